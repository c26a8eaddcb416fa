package producer_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/internal/leakcheck"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// producer, sarama client and kafkatest cluster must be closed. goleak runs
// after all tests, when every t.Cleanup has closed its cluster.
//
// Ignored: the dependency goroutines nothing can stop (internal/leakcheck).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}
