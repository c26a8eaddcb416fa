package table_test

import (
	"crypto/tls"
	"errors"
	"testing"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/table"
)

// TestConnectionSecurity: against a cluster serving TLS only with
// SCRAM-SHA-512, the right settings restore the table, and wrong ones
// fail Open with their typed errors.
func TestConnectionSecurity(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTLS(), kafkatest.WithSASLUser("SCRAM-SHA-512", "alice", "s3cret"))
	compactedTopic(t, c, "stock", 1)
	put(t, newWriter(t, c, "stock"), "k", "v")
	tb := open(t, c, "stock") // open passes c.ConnOptions()
	waitReady(t, tb)
	if v, ok := tb.Get([]byte("k")); !ok || string(v) != "v" {
		t.Fatalf("k = %q (present %v)", v, ok)
	}

	trusted := conn.WithTLS(c.ClientTLS())
	for name, tc := range map[string]struct {
		opts []conn.Option
		want error
	}{
		"wrong password":        {[]conn.Option{trusted, conn.WithSASL(conn.SASLSCRAMSHA512, "alice", "wrong")}, conn.ErrAuthentication},
		"untrusted certificate": {[]conn.Option{conn.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}), conn.WithSASL(conn.SASLSCRAMSHA512, "alice", "s3cret")}, conn.ErrTLS},
	} {
		t.Run(name, func(t *testing.T) {
			tb, err := table.Open(testContext(t), c.Brokers(), "stock", table.WithConnection(tc.opts...))
			if err == nil {
				_ = tb.Close()
				t.Fatal("Open succeeded")
			}
			var ce *conn.ConnectError
			if !errors.As(err, &ce) || !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want a *conn.ConnectError matching %v", err, tc.want)
			}
		})
	}
}
