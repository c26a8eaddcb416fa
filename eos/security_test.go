package eos_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connectBound only catches a hang or an endless retry loop: a refused
// connection is reported in about a second with the default retries.
const connectBound = 20 * time.Second

// TestConnectionSecurity runs a session against a cluster that serves TLS
// only and PLAIN: a wrong setting makes Run return its typed error in
// bounded time, even with automatic restarts on (a refused connection is
// not a producer failure to restart from).
func TestConnectionSecurity(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTLS(), kafkatest.WithSASLUser("PLAIN", "carol", "open-sesame"),
		kafkatest.WithTopic("in", 2), kafkatest.WithTopic("out", 2))
	handler := eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
		out.Emit(copyOutput(in, "out"))
		return nil
	})

	trusted := conn.WithTLS(c.ClientTLS())
	cases := map[string]struct {
		opts []conn.Option
		want error
	}{
		"wrong password":        {[]conn.Option{trusted, conn.WithSASL(conn.SASLPlain, "carol", "wrong")}, conn.ErrAuthentication},
		"mechanism not enabled": {[]conn.Option{trusted, conn.WithSASL(conn.SASLSCRAMSHA512, "carol", "open-sesame")}, conn.ErrAuthentication},
		"untrusted certificate": {[]conn.Option{conn.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}), conn.WithSASL(conn.SASLPlain, "carol", "open-sesame")}, conn.ErrTLS},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := eos.New(c.Brokers(), "denied", []string{"in"}, "secure", handler,
				testOpts(eos.WithAutoRestart(true), eos.WithConnection(tc.opts...))...)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 2*connectBound)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.want)
				var ce *conn.ConnectError
				assert.True(t, errors.As(err, &ce), "got %T: %v", err, err)
			case <-time.After(connectBound):
				t.Fatalf("Run did not return within %v", connectBound)
			}
		})
	}

	// The right settings process records exactly once.
	p, err := producer.New(c.Brokers(), producer.WithConnection(c.ConnOptions()...))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 50 {
		k := fmt.Sprintf("k%03d", i%7) // the "<key>:<seq>" shape checkExactlyOnce orders by
		_, err := p.Send(ctx, &bulwark.Message{Topic: "in", Key: []byte(k), Value: []byte(fmt.Sprintf("%s:%06d", k, i/7))})
		require.NoError(t, err)
	}
	require.NoError(t, p.Close())
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "secure", handler, testOpts(eos.WithConnection(c.ConnOptions()...))...)
	require.NoError(t, err)
	stop := runSession(t, s)
	waitFor(t, 30*time.Second, "every input committed", func() bool {
		offs, err := c.CommittedOffsets(context.Background(), "g", "in")
		return err == nil && offs[0]+offs[1] == 50
	})
	require.NoError(t, stop())
	counts := checkExactlyOnce(t, c, "g", "in", "out")
	assert.Equal(t, 50, counts["out"])
}
