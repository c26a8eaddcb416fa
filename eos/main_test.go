package eos_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/internal/leakcheck"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}
