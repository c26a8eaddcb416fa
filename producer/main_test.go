package producer_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// producer, sarama client and kafkatest cluster must be closed. goleak runs
// after all tests, when every t.Cleanup has closed its cluster.
//
// Ignored: go-metrics' meter arbiter, a process-wide ticker that sarama's
// metrics registry starts once and nothing can stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}
