package provision_test

import (
	"testing"

	"go.uber.org/goleak"
)

// go-metrics (used by sarama) starts one ticker goroutine per process that
// cannot be stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}
