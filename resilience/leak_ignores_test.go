package resilience_test

import "github.com/bulwarkgo/bulwark/internal/leakcheck"

// leakIgnores lists third-party goroutines the tests cannot stop
// (internal/leakcheck).
var leakIgnores = leakcheck.Options()
