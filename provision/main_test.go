package provision_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/internal/leakcheck"
	"go.uber.org/goleak"
)

// Ignored: the dependency goroutines nothing can stop (internal/leakcheck).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}
