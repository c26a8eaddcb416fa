package resilience

import "github.com/bulwarkgo/bulwark/internal/clock"

// Clock is the time the breaker's open delay and failure-rate window and
// the rate limiter's permits are measured on, and the retry's backoff, the
// bulkhead's wait and the rate limiter's wait are slept on. Tests pass a fake
// one ([WithClock]) to drive the policies without sleeping, e.g.
// consumertest's FakeClock, which also drives a test harness's waits.
type Clock = clock.Clock

// ClockOption configures the policies that measure time: the breaker, the
// retry, the bulkhead and the rate limiter.
type ClockOption interface {
	BreakerOption
	RetryOption
	BulkheadOption
	RateLimiterOption
}

type clockOption struct{ c Clock }

func (o clockOption) applyBreaker(c *breakerConfig)         { c.clock = o.c }
func (o clockOption) applyRetry(c *retryConfig)             { c.clock = o.c }
func (o clockOption) applyBulkhead(c *bulkheadConfig)       { c.clock = o.c }
func (o clockOption) applyRateLimiter(c *rateLimiterConfig) { c.clock = o.c }

// WithClock sets the clock a policy measures and waits on (default: the
// wall clock): the breaker's open delay and failure-rate window
// ([WithFailureRate]), the retry's backoff and max elapsed time, the
// bulkhead's max wait, the rate limiter's permits and its wait for one.
// With a fake clock a test advances time instead of sleeping: past the open
// delay, the breaker's next call is a half-open probe; a period later, the
// rate limiter has a period's permits again.
func WithClock(c Clock) ClockOption { return clockOption{c} }
