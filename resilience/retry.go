package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/clock"
)

// Defaults of [NewRetry].
const (
	DefaultMaxAttempts    = 3
	DefaultInitialBackoff = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultBackoffFactor  = 2.0
	DefaultJitter         = 0.2
)

type retryConfig struct {
	shared
	maxAttempts int
	maxElapsed  time.Duration
	initial     time.Duration
	maxBackoff  time.Duration
	factor      float64
	jitter      float64
	retryIf     func(error) bool
	clock       Clock
}

type retryOption func(*retryConfig)

func (o retryOption) applyRetry(c *retryConfig) { o(c) }

// WithMaxAttempts sets how many times a call is made in all, the first
// included (default 3; 1 disables retrying).
func WithMaxAttempts(n int) RetryOption {
	return retryOption(func(c *retryConfig) { c.maxAttempts = n })
}

// WithMaxElapsed bounds the time spent retrying, counted from the first
// failure (default 0: no bound beyond the attempts and the context). A
// backoff that would end past the bound is shortened to end at it, and an
// attempt that fails past the bound is the last.
func WithMaxElapsed(d time.Duration) RetryOption {
	return retryOption(func(c *retryConfig) { c.maxElapsed = d })
}

// WithBackoff sets the exponential backoff: the first delay, the largest
// delay and the factor between consecutive delays (default 100ms, 5s, 2).
func WithBackoff(initial, max time.Duration, factor float64) RetryOption {
	return retryOption(func(c *retryConfig) { c.initial, c.maxBackoff, c.factor = initial, max, factor })
}

// WithJitter varies each delay randomly by up to ±fraction of it (default
// 0.2; 0 disables), so that callers failing together do not retry in step.
func WithJitter(fraction float64) RetryOption {
	return retryOption(func(c *retryConfig) { c.jitter = fraction })
}

// WithRetryIf narrows which errors are retried. Whatever it says,
// permanent and pause-class errors and the caller's own cancellation are
// never retried.
func WithRetryIf(retryable func(err error) bool) RetryOption {
	return retryOption(func(c *retryConfig) { c.retryIf = retryable })
}

// Retry calls again, with exponential backoff and jitter, a call that
// failed with a retryable error. It never retries a permanent error
// ([bulwark.ClassPermanent]: the call would fail the same way) nor a
// pause-class one (a breaker open or a bulkhead full: the consumer pauses
// instead), and it stops when the caller's context ends. After the last
// attempt it returns the last error unchanged, so its class still decides
// what happens next.
//
// Inside a consumer, which retries retryable errors itself, use Retry for
// quick in-place retries of one call (an HTTP request) rather than around
// the whole handler, or the attempts multiply.
type Retry struct {
	tel *instruments
	cfg retryConfig
}

// NewRetry returns a retry policy. See [WithMaxAttempts], [WithMaxElapsed],
// [WithBackoff], [WithJitter], [WithRetryIf] and the shared [Option]s.
func NewRetry(opts ...RetryOption) (*Retry, error) {
	cfg := retryConfig{
		maxAttempts: DefaultMaxAttempts,
		initial:     DefaultInitialBackoff,
		maxBackoff:  DefaultMaxBackoff,
		factor:      DefaultBackoffFactor,
		jitter:      DefaultJitter,
		clock:       clock.Wall{},
	}
	for _, o := range opts {
		if o != nil {
			o.applyRetry(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tel, err := newInstruments(cfg.shared, "retry")
	if err != nil {
		return nil, err
	}
	return &Retry{tel: tel, cfg: cfg}, nil
}

func (c *retryConfig) validate() error {
	switch {
	case c.maxAttempts < 1:
		return invalid("retry: max attempts %d must be at least 1", c.maxAttempts)
	case c.maxElapsed < 0:
		return invalid("retry: max elapsed %s is negative", c.maxElapsed)
	case c.initial <= 0:
		return invalid("retry: initial backoff %s must be positive", c.initial)
	case c.maxBackoff < c.initial:
		return invalid("retry: max backoff %s is below the initial %s", c.maxBackoff, c.initial)
	case c.factor < 1:
		return invalid("retry: backoff factor %v must be at least 1", c.factor)
	case c.jitter < 0 || c.jitter > 1:
		return invalid("retry: jitter %v is not within [0, 1]", c.jitter)
	case c.clock == nil:
		return invalid("retry: nil clock")
	}
	return nil
}

func (r *Retry) retryable(err error) bool {
	if err == nil || bulwark.ClassOf(err) != bulwark.ClassRetryable || errors.Is(err, context.Canceled) {
		return false
	}
	return r.cfg.retryIf == nil || r.cfg.retryIf(err)
}

// Middleware returns the retry policy as record middleware.
func (r *Retry) Middleware() bulwark.Middleware { return r.wrap }

func (r *Retry) wrap(next bulwark.Handler) bulwark.Handler {
	return handlerOf[*Retry]{policy: r, next: next}
}

func (r *Retry) handle(ctx context.Context, msg *bulwark.Message, next bulwark.Handler) error {
	// The loop is ours, not failsafe-go's retry executor: that one sleeps on
	// wall-clock timers no test can advance (see WithClock), and costs a
	// dozen allocations per execution.
	err := next.Handle(ctx, msg)
	if err == nil || r.cfg.maxAttempts == 1 || !r.retryable(err) || ctx.Err() != nil {
		return err
	}
	start := r.cfg.clock.Now() // the first failure
	for attempt := 1; attempt < r.cfg.maxAttempts; attempt++ {
		delay := r.delay(attempt)
		if r.cfg.maxElapsed > 0 {
			left := r.cfg.maxElapsed - r.cfg.clock.Now().Sub(start)
			if left <= 0 {
				return err
			}
			delay = min(delay, left)
		}
		r.tel.retries.Add(ctx, 1, r.tel.addOpts...)
		if sleepErr := r.cfg.clock.Sleep(ctx, delay); sleepErr != nil {
			// Keep the failure that was being retried, not only the
			// cancellation.
			return fmt.Errorf("resilience: retry stopped: %w; last attempt: %w", sleepErr, err)
		}
		if err = next.Handle(ctx, msg); err == nil || !r.retryable(err) {
			return err
		}
	}
	return err
}

// delay is the backoff before retry n (from 1): initial*factor^(n-1),
// capped at the max backoff, then varied by up to ±jitter of itself.
func (r *Retry) delay(n int) time.Duration {
	d := float64(r.cfg.initial) * math.Pow(r.cfg.factor, float64(n-1))
	d = min(d, float64(r.cfg.maxBackoff))
	if r.cfg.jitter > 0 {
		d += (2*rand.Float64() - 1) * r.cfg.jitter * d
	}
	return time.Duration(max(d, 0))
}
