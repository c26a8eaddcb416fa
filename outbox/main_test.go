package outbox_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/internal/leakcheck"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: relays,
// producers, the reconcile's Kafka client, proxies and clusters must all
// be stopped. Ignored: the dependency goroutines nothing can stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}
