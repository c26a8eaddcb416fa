package saramagroup_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/internal/leakcheck"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind beyond the
// dependencies' own that leakcheck lists.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}
