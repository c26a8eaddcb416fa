package producer_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connectBound only catches a hang or an endless retry loop: a refused
// connection is reported in about a second with the default retries.
const connectBound = 20 * time.Second

// TestConnectionSecurity runs the producer against a cluster that serves
// TLS only and SCRAM-SHA-512: the right settings deliver, and each wrong
// one fails New with its typed error in bounded time.
func TestConnectionSecurity(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTLS(), kafkatest.WithSASLUser("SCRAM-SHA-512", "alice", "s3cret"),
		kafkatest.WithTopic("secure", 1))

	p := newProducer(t, c, producer.WithConnection(c.ConnOptions()...))
	res, err := p.Send(ctxFor(t, 30*time.Second), &bulwark.Message{Topic: "secure", Key: []byte("k"), Value: []byte("v")})
	require.NoError(t, err)
	recs := readTopic(t, c, "secure")
	require.Len(t, recs, 1)
	assert.Equal(t, res.Offset, recs[0].Offset)

	trusted := conn.WithTLS(c.ClientTLS())
	cases := map[string]struct {
		opts []conn.Option
		want error
	}{
		"wrong password":        {[]conn.Option{trusted, conn.WithSASL(conn.SASLSCRAMSHA512, "alice", "wrong")}, conn.ErrAuthentication},
		"mechanism not enabled": {[]conn.Option{trusted, conn.WithSASL(conn.SASLSCRAMSHA256, "alice", "s3cret")}, conn.ErrAuthentication},
		"untrusted certificate": {[]conn.Option{conn.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}), conn.WithSASL(conn.SASLSCRAMSHA512, "alice", "s3cret")}, conn.ErrTLS},
		"plaintext to TLS":      {[]conn.Option{conn.WithSASL(conn.SASLSCRAMSHA512, "alice", "s3cret")}, conn.ErrUnreachable},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				p, err := producer.New(c.Brokers(), producer.WithConnection(tc.opts...))
				if p != nil {
					_ = p.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.want)
				var ce *conn.ConnectError
				assert.ErrorAs(t, err, &ce)
			case <-time.After(connectBound):
				t.Fatalf("producer.New did not return within %v", connectBound)
			}
		})
	}
}
