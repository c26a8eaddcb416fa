// Package leakcheck holds, once for every test package, the goroutines of
// dependencies that outlive any Close because their owners give no way to
// stop or wait for them. Leak checks ignore exactly these; any other
// goroutine left after Close is a leak of ours (or of sarama's that we
// must stop) and fails the check.
//
//   - go-metrics' meter ticker: sarama registers meters in a process-wide
//     arbiter whose ticker goroutine runs for the life of the process.
//   - go-resiliency's circuit-breaker timer: sarama's async producer (used
//     by producer, eos and the consumer's dead-letter and retry-topic
//     writes) gives each topic and partition a breaker.New(3, 1, 10s).
//     Three failed partition or leader lookups within 10 s (a missing
//     topic, brokers cut off, connections aborted at the end of a stop)
//     open it, and opening starts a goroutine that sleeps 10 s in
//     time.Sleep before half-closing it. sarama does not expose its
//     breakers and the breaker has no Stop, so Close can neither stop nor
//     wait for it (waiting 10 s would break Close's bound); the goroutine
//     holds only the breaker and ends by itself within 10 s.
package leakcheck

import "go.uber.org/goleak"

// Options returns goleak options ignoring the goroutines above, followed
// by extra (a package's own, such as its test cluster's).
func Options(extra ...goleak.Option) []goleak.Option {
	return append([]goleak.Option{
		goleak.IgnoreAnyFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		goleak.IgnoreAnyFunction("github.com/eapache/go-resiliency/breaker.(*Breaker).timer"),
	}, extra...)
}
