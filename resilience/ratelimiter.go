package resilience

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
)

type rateLimiterConfig struct {
	shared
	waiting
	bursty bool
}

type rateLimiterOption func(*rateLimiterConfig)

func (o rateLimiterOption) applyRateLimiter(c *rateLimiterConfig) { o(c) }

// WithBursts makes the limiter bursty: all of a period's calls may go at
// once, then none until the next period. By default it is smooth: calls are
// spread evenly, one every period/calls.
func WithBursts() RateLimiterOption {
	return rateLimiterOption(func(c *rateLimiterConfig) { c.bursty = true })
}

// RateLimiter bounds the rate of calls. A call waits for its permit up to
// the maximum wait ([WithMaxWait], default 1s); when the permit would come
// later the call is not made and fails with the pause class wrapping
// [ErrRateLimited], so that a consumer pauses the partition for the pause
// delay ([WithPauseDelay]) instead of failing the record.
type RateLimiter struct {
	rl      ratelimiter.RateLimiter[any]
	tel     *instruments
	maxWait time.Duration
	pause   time.Duration
	limited error
}

// NewRateLimiter returns a limiter allowing calls per period: smooth unless
// [WithBursts]. See [WithMaxWait], [WithPauseDelay] and the shared [Option]s.
func NewRateLimiter(calls int, period time.Duration, opts ...RateLimiterOption) (*RateLimiter, error) {
	cfg := rateLimiterConfig{waiting: waiting{maxWait: DefaultMaxWait}}
	for _, o := range opts {
		if o != nil {
			o.applyRateLimiter(&cfg)
		}
	}
	if calls < 1 {
		return nil, invalid("rate limiter: calls per period %d must be at least 1", calls)
	}
	if period <= 0 {
		return nil, invalid("rate limiter: period %s must be positive", period)
	}
	if !cfg.bursty && period/time.Duration(calls) == 0 {
		return nil, invalid("rate limiter: %d calls per %s is finer than a nanosecond", calls, period)
	}
	if err := cfg.validate("rate limiter"); err != nil {
		return nil, err
	}
	if !cfg.pauseSet {
		cfg.pauseDelay = max(period/time.Duration(calls), 10*time.Millisecond)
	}
	tel, err := newInstruments(cfg.shared, "ratelimiter")
	if err != nil {
		return nil, err
	}
	l := &RateLimiter{
		tel:     tel,
		maxWait: cfg.maxWait,
		pause:   cfg.pauseDelay,
		limited: fmt.Errorf("%w: %s", ErrRateLimited, tel.name),
	}
	if cfg.bursty {
		l.rl = ratelimiter.NewBursty[any](uint(calls), period)
	} else {
		l.rl = ratelimiter.NewSmooth[any](uint(calls), period)
	}
	return l, nil
}

// Middleware returns the rate limiter as record middleware.
func (l *RateLimiter) Middleware() bulwark.Middleware { return l.wrap }

func (l *RateLimiter) wrap(next bulwark.Handler) bulwark.Handler {
	return handlerOf[*RateLimiter]{policy: l, next: next}
}

func (l *RateLimiter) handle(ctx context.Context, msg *bulwark.Message, next bulwark.Handler) error {
	// Reserving instead of failsafe-go's blocking acquire skips a timer
	// when the permit is free, which is the common case.
	wait := l.rl.TryReservePermit(l.maxWait)
	if wait < 0 {
		l.tel.rejected(ctx)
		return bulwark.Pause(l.limited, l.pause)
	}
	if wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
	return next.Handle(ctx, msg)
}
