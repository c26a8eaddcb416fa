// Package leakcheck holds, once for every test package, the goroutines of
// dependencies that outlive any Close because their owners give no way to
// stop or wait for them. Leak checks ignore exactly these; any other
// goroutine left after Close is a leak of ours (or of sarama's that we
// must stop) and fails the check.
//
//   - go-metrics' meter ticker: sarama registers meters in a process-wide
//     arbiter whose ticker goroutine runs for the life of the process.
//
// sarama's async producer, whose per-partition circuit breakers leave a
// timer goroutine behind for 10 s once open, is no longer used by library
// code (the produce engine replaced it), so its goroutine is not ignored
// here: a test that runs raw sarama's async producer against failing
// lookups must ignore it itself.
package leakcheck

import "go.uber.org/goleak"

// Options returns goleak options ignoring the goroutines above, followed
// by extra (a package's own, such as its test cluster's).
func Options(extra ...goleak.Option) []goleak.Option {
	return append([]goleak.Option{
		goleak.IgnoreAnyFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	}, extra...)
}
