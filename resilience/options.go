package resilience

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Each policy has its own option interface, so that an option meant for
// one policy does not compile when given to another. Options that several
// policies understand implement several interfaces.

// BreakerOption configures [NewBreaker].
type BreakerOption interface{ applyBreaker(*breakerConfig) }

// RetryOption configures [NewRetry].
type RetryOption interface{ applyRetry(*retryConfig) }

// BulkheadOption configures [NewBulkhead].
type BulkheadOption interface{ applyBulkhead(*bulkheadConfig) }

// TimeoutOption configures [NewTimeout].
type TimeoutOption interface{ applyTimeout(*timeoutConfig) }

// RateLimiterOption configures [NewRateLimiter].
type RateLimiterOption interface{ applyRateLimiter(*rateLimiterConfig) }

// Option configures any policy: [WithName], [WithLogger],
// [WithMeterProvider].
type Option interface {
	BreakerOption
	RetryOption
	BulkheadOption
	TimeoutOption
	RateLimiterOption
}

// WaitOption configures the policies that make calls wait for capacity: the
// bulkhead and the rate limiter.
type WaitOption interface {
	BulkheadOption
	RateLimiterOption
}

// shared holds what every policy is configured with.
type shared struct {
	name   string
	logger *slog.Logger
	meters metric.MeterProvider
}

type sharedOption func(*shared)

func (o sharedOption) applyBreaker(c *breakerConfig)         { o(&c.shared) }
func (o sharedOption) applyRetry(c *retryConfig)             { o(&c.shared) }
func (o sharedOption) applyBulkhead(c *bulkheadConfig)       { o(&c.shared) }
func (o sharedOption) applyTimeout(c *timeoutConfig)         { o(&c.shared) }
func (o sharedOption) applyRateLimiter(c *rateLimiterConfig) { o(&c.shared) }

// WithName names the policy in metrics (attribute bulwark.resilience.name)
// and logs, typically after the dependency it guards ("payments-api").
// Default: the policy kind ("breaker", "retry", "bulkhead", "timeout",
// "ratelimiter").
func WithName(name string) Option { return sharedOption(func(s *shared) { s.name = name }) }

// WithLogger sets the logger (default: slog.Default(), WARN and above only,
// so an opened breaker reaches the operator with no configuration;
// slog.New(slog.DiscardHandler) silences it). Breaker state changes are
// logged at info (opened: warn); rejections are not logged, they are counted.
func WithLogger(l *slog.Logger) Option { return sharedOption(func(s *shared) { s.logger = l }) }

// WithMeterProvider sets the meter provider (default: the otel global).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return sharedOption(func(s *shared) { s.meters = mp })
}

// waiting holds what the bulkhead and the rate limiter share.
type waiting struct {
	maxWait    time.Duration
	pauseDelay time.Duration
	pauseSet   bool
}

type waitOption func(*waiting)

func (o waitOption) applyBulkhead(c *bulkheadConfig)       { o(&c.waiting) }
func (o waitOption) applyRateLimiter(c *rateLimiterConfig) { o(&c.waiting) }

// WithMaxWait sets how long a call may wait for a free slot or permit
// before it is rejected with the pause class (default 1s; zero rejects at
// once when full). The wait honours the call's context.
func WithMaxWait(d time.Duration) WaitOption { return waitOption(func(w *waiting) { w.maxWait = d }) }

// WithPauseDelay sets the delay carried by the pause-class error of a
// rejected call: how long a consumer keeps the partition paused before it
// tries the record again (bulkhead default 100ms; rate limiter default the
// interval between two permits, at least 10ms).
func WithPauseDelay(d time.Duration) WaitOption {
	return waitOption(func(w *waiting) { w.pauseDelay, w.pauseSet = d, true })
}

func (w *waiting) validate(kind string) error {
	if w.maxWait < 0 {
		return invalid("%s: max wait %s is negative", kind, w.maxWait)
	}
	if w.pauseSet && w.pauseDelay <= 0 {
		return invalid("%s: pause delay %s must be positive", kind, w.pauseDelay)
	}
	return nil
}

// DefaultMaxWait is the default of [WithMaxWait].
const DefaultMaxWait = time.Second
