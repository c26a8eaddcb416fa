package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/resilience"
)

func newLimiter(t *testing.T, n int, per time.Duration, opts ...resilience.RateLimiterOption) *resilience.RateLimiter {
	t.Helper()
	l, err := resilience.NewRateLimiter(n, per, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func assertRateLimited(t *testing.T, err error, delay time.Duration) {
	t.Helper()
	d, ok := bulwark.PauseDelay(err)
	if !errors.Is(err, resilience.ErrRateLimited) || !ok || d != delay {
		t.Fatalf("err = %v (pause %v, delay %s), want ErrRateLimited paused for %s", err, ok, d, delay)
	}
}

func TestRateLimiterSmoothSpacesCalls(t *testing.T) {
	l := newLimiter(t, 10, time.Second, resilience.WithMaxWait(0)) // one per 100ms
	h := l.Middleware()(&counted{})
	if err := call(h); err != nil {
		t.Fatal(err)
	}
	assertRateLimited(t, call(h), 100*time.Millisecond)
}

func TestRateLimiterBurstyAllowsAPeriodsCallsAtOnce(t *testing.T) {
	l := newLimiter(t, 5, time.Hour, resilience.WithBursts(), resilience.WithMaxWait(0),
		resilience.WithPauseDelay(time.Second))
	down := &counted{}
	h := l.Middleware()(down)
	for i := range 5 {
		if err := call(h); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	assertRateLimited(t, call(h), time.Second)
	if down.calls.Load() != 5 {
		t.Fatalf("calls = %d, want 5", down.calls.Load())
	}
}

func TestRateLimiterWaitsUpToMaxWait(t *testing.T) {
	l := newLimiter(t, 1, 30*time.Millisecond, resilience.WithMaxWait(time.Second))
	h := l.Middleware()(&counted{})
	start := time.Now()
	for range 4 {
		if err := call(h); err != nil {
			t.Fatal(err)
		}
	}
	if elapsed := time.Since(start); elapsed < 80*time.Millisecond {
		t.Fatalf("4 calls at one per 30ms took %s", elapsed)
	}
}

func TestRateLimiterWaitEndsWithTheContext(t *testing.T) {
	l := newLimiter(t, 1, time.Hour, resilience.WithMaxWait(2*time.Hour))
	h := l.Middleware()(&counted{})
	_ = call(h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := h.Handle(ctx, &bulwark.Message{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestRateLimiterInvalid(t *testing.T) {
	for name, fn := range map[string]func() error{
		"zero calls":  func() error { _, err := resilience.NewRateLimiter(0, time.Second); return err },
		"zero period": func() error { _, err := resilience.NewRateLimiter(1, 0); return err },
		"too fine":    func() error { _, err := resilience.NewRateLimiter(10, time.Nanosecond); return err },
		"wait": func() error {
			_, err := resilience.NewRateLimiter(1, time.Second, resilience.WithMaxWait(-1))
			return err
		},
	} {
		if err := fn(); !errors.Is(err, resilience.ErrInvalidConfig) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
