package resilience

import "github.com/bulwarkgo/bulwark/internal/clock"

// Clock is the time the breaker's open delay is measured on and the
// retry's backoff and the bulkhead's wait are slept on. Tests pass a fake
// one ([WithClock]) to drive the policies without sleeping, e.g.
// consumertest's FakeClock, which also drives a test harness's waits.
type Clock = clock.Clock

// ClockOption configures the policies that measure time: the breaker, the
// retry and the bulkhead.
type ClockOption interface {
	BreakerOption
	RetryOption
	BulkheadOption
}

type clockOption struct{ c Clock }

func (o clockOption) applyBreaker(c *breakerConfig)   { c.clock = o.c }
func (o clockOption) applyRetry(c *retryConfig)       { c.clock = o.c }
func (o clockOption) applyBulkhead(c *bulkheadConfig) { c.clock = o.c }

// WithClock sets the clock a policy measures and waits on (default: the
// wall clock): the breaker's open delay, the retry's backoff and max
// elapsed time, the bulkhead's max wait. With a fake clock a test advances
// time instead of sleeping: past the open delay, the breaker's next call is
// a half-open probe. Not for the rate limiter, whose permits are
// failsafe-go's and counted on the wall clock; nor does the clock move the
// breaker's failure-rate window ([WithFailureRate]), failsafe-go's too.
func WithClock(c Clock) ClockOption { return clockOption{c} }
