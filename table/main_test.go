package table_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/internal/leakcheck"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// table, producer and kafkatest cluster must be closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}
