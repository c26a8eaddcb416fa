package resilience

import (
	"context"
	"fmt"
	"time"

	"sync"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/clock"
)

type rateLimiterConfig struct {
	shared
	waiting
	bursty bool
	clock  Clock
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
	permits *permits
	clock   Clock
	tel     *instruments
	maxWait time.Duration
	pause   time.Duration
	limited error
}

// NewRateLimiter returns a limiter allowing calls per period: smooth unless
// [WithBursts]. See [WithMaxWait], [WithPauseDelay] and the shared [Option]s.
func NewRateLimiter(calls int, period time.Duration, opts ...RateLimiterOption) (*RateLimiter, error) {
	cfg := rateLimiterConfig{waiting: waiting{maxWait: DefaultMaxWait}, clock: clock.Wall{}}
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
	if cfg.clock == nil {
		return nil, invalid("rate limiter: nil clock")
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
		permits: newPermits(calls, period, cfg.bursty, cfg.clock.Now()),
		clock:   cfg.clock,
		tel:     tel,
		maxWait: cfg.maxWait,
		pause:   cfg.pauseDelay,
		limited: fmt.Errorf("%w: %s", ErrRateLimited, tel.name),
	}
	return l, nil
}

// Middleware returns the rate limiter as record middleware.
func (l *RateLimiter) Middleware() bulwark.Middleware { return l.wrap }

func (l *RateLimiter) wrap(next bulwark.Handler) bulwark.Handler {
	return handlerOf[*RateLimiter]{policy: l, next: next}
}

func (l *RateLimiter) handle(ctx context.Context, msg *bulwark.Message, next bulwark.Handler) error {
	// Reserving, then sleeping only when the permit is not free yet, skips
	// a timer in the common case.
	wait := l.permits.reserve(l.clock.Now(), l.maxWait)
	if wait < 0 {
		l.tel.rejected(ctx)
		return bulwark.Pause(l.limited, l.pause)
	}
	if wait > 0 {
		if err := l.clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	return next.Handle(ctx, msg)
}

// permits counts a limiter's permits on its clock. It is failsafe-go's
// rate limiter arithmetic (v0.9.8, ratelimiter/ratelimiterstats.go: the
// smooth limiter's next free permit, the bursty one's periods with a
// deficit), kept here because failsafe-go measures it on a wall-clock
// stopwatch it gives no way to replace, so no test could advance it.
type permits struct {
	mu     sync.Mutex
	start  time.Time
	bursty bool
	// smooth: the interval between two permits, and when (since start) the
	// next one is free, a multiple of interval.
	interval time.Duration
	nextFree time.Duration
	// bursty: a period's permits, the current period's number, and the
	// permits left in it (negative: a deficit later periods pay).
	period    time.Duration
	perPeriod int
	current   int64
	available int
}

func newPermits(calls int, period time.Duration, bursty bool, now time.Time) *permits {
	p := &permits{start: now, bursty: bursty, period: period, perPeriod: calls, available: calls}
	if !bursty {
		p.interval = period / time.Duration(calls)
	}
	return p
}

// reserve takes a permit at now and returns how long to wait before using
// it, or -1 (taking none) when that would be longer than maxWait.
func (p *permits) reserve(now time.Time, maxWait time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A clock set back does not give permits back.
	elapsed := max(now.Sub(p.start), 0)
	if p.bursty {
		return p.reserveBursty(elapsed, maxWait)
	}
	next := p.nextFree + p.interval
	if elapsed >= p.nextFree {
		next = elapsed - elapsed%p.interval + p.interval
	}
	wait := max(next-elapsed-p.interval, 0)
	if wait > maxWait {
		return -1
	}
	p.nextFree = next
	return wait
}

func (p *permits) reserveBursty(elapsed, maxWait time.Duration) time.Duration {
	if period := int64(elapsed / p.period); period > p.current {
		// Each period passed pays a period's permits into a deficit; once
		// it is paid, a period starts full (never more than full).
		if k := period - p.current; p.available < 0 && k <= int64(-p.available/p.perPeriod)+1 {
			p.available = min(p.available+int(k)*p.perPeriod, p.perPeriod)
		} else {
			p.available = p.perPeriod
		}
		p.current = period
	}
	var wait time.Duration
	if p.available < 1 {
		// The periods the deficit takes, after the current one.
		later := (-p.available) / p.perPeriod
		wait = time.Duration(p.current+1+int64(later))*p.period - elapsed
		if wait > maxWait {
			return -1
		}
	}
	p.available--
	return wait
}
