package consumer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
)

// connectBound only catches a hang or an endless retry loop: a refused
// connection is reported in about a second with the default retries.
const connectBound = 20 * time.Second

// TestConnectionSecurity runs the consumer against a cluster that serves
// TLS only and SCRAM-SHA-256: the right settings consume and commit, and
// each wrong one makes Run return its typed error in bounded time.
func TestConnectionSecurity(t *testing.T) {
	cl := kafkatest.NewCluster(t, kafkatest.WithTLS(), kafkatest.WithSASLUser("SCRAM-SHA-256", "bob", "pa55"),
		kafkatest.WithTopic("secure", 2))
	p, err := producer.New(cl.Brokers(), producer.WithConnection(cl.ConnOptions()...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 10
	for i := range n {
		if _, err := p.Send(ctx, &bulwark.Message{Topic: "secure", Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	rec := newRecorder(nil)
	c, err := New(cl.Brokers(), "secure-group", []string{"secure"}, rec, fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record", func() bool { return rec.distinct() == n })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := sum(committed(t, cl, "secure-group", "secure")); got != n {
		t.Fatalf("committed %d records, want %d", got, n)
	}

	trusted := conn.WithTLS(cl.ClientTLS())
	cases := map[string]struct {
		opts []conn.Option
		want error
	}{
		"wrong password":        {[]conn.Option{trusted, conn.WithSASL(conn.SASLSCRAMSHA256, "bob", "wrong")}, conn.ErrAuthentication},
		"unknown user":          {[]conn.Option{trusted, conn.WithSASL(conn.SASLSCRAMSHA256, "eve", "pa55")}, conn.ErrAuthentication},
		"untrusted certificate": {[]conn.Option{conn.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}), conn.WithSASL(conn.SASLSCRAMSHA256, "bob", "pa55")}, conn.ErrTLS},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
				t.Error("a record was handled without a working connection")
				return nil
			})
			c, err := New(cl.Brokers(), "denied", []string{"secure"}, h, WithConnection(tc.opts...))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*connectBound)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			select {
			case err := <-done:
				var ce *conn.ConnectError
				if !errors.Is(err, tc.want) || !errors.As(err, &ce) {
					t.Fatalf("Run returned %v, want a *conn.ConnectError matching %v", err, tc.want)
				}
			case <-time.After(connectBound):
				t.Fatalf("Run did not return within %v", connectBound)
			}
		})
	}
}
