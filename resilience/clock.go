package resilience

import "time"

// Clock is the time the breaker measures its open delay on. Tests pass a
// fake one ([WithClock]) to open and half-open a breaker without sleeping,
// e.g. consumertest's FakeClock, which also drives a test harness's waits.
type Clock interface {
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

type clockOption func(*breakerConfig)

func (o clockOption) applyBreaker(c *breakerConfig) { o(c) }

// WithClock sets the clock the breaker's open delay is measured on
// (default: the wall clock): with a fake clock, a test advances it past the
// open delay and the next call is a half-open probe, with no real sleep.
// The failure-rate window ([WithFailureRate]) is failsafe-go's and slides
// on the wall clock whatever the option says.
func WithClock(c Clock) BreakerOption {
	return clockOption(func(cfg *breakerConfig) { cfg.clock = c })
}
