//go:build !unix

package resilience_test

import (
	"testing"
	"time"
)

// cpuTime needs getrusage; elsewhere the CPU-time assertions are skipped.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	t.Skip("process CPU time is read with getrusage, which this OS lacks")
	return 0
}
