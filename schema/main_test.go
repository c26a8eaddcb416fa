package schema_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/internal/leakcheck"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind, beyond
// the dependencies' ones leakcheck lists (the fault matrix runs a consumer).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}
