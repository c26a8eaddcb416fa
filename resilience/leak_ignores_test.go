package resilience_test

import "go.uber.org/goleak"

// leakIgnores lists third-party goroutines the tests cannot stop: sarama
// (inside the consumer) starts go-metrics' process-wide meter ticker, which
// never exits.
var leakIgnores = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
}
