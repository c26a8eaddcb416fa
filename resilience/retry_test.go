package resilience_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/resilience"
)

func newRetry(t *testing.T, opts ...resilience.RetryOption) *resilience.Retry {
	t.Helper()
	r, err := resilience.NewRetry(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var fast = resilience.WithBackoff(time.Millisecond, time.Millisecond, 1)

// timed records when each call started.
type timed struct {
	mu     sync.Mutex
	starts []time.Time
	fn     func(call int) error
}

func (h *timed) Handle(context.Context, *bulwark.Message) error {
	h.mu.Lock()
	h.starts = append(h.starts, time.Now())
	n := len(h.starts)
	h.mu.Unlock()
	return h.fn(n)
}

func (h *timed) gaps() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var gaps []time.Duration
	for i := 1; i < len(h.starts); i++ {
		gaps = append(gaps, h.starts[i].Sub(h.starts[i-1]))
	}
	return gaps
}

func TestRetryRetriesUntilSuccess(t *testing.T) {
	r := newRetry(t, resilience.WithMaxAttempts(5), fast)
	down := &counted{fn: func(_ context.Context, n int64) error {
		if n < 3 {
			return errDown
		}
		return nil
	}}
	if err := call(r.Middleware()(down)); err != nil {
		t.Fatal(err)
	}
	if down.calls.Load() != 3 {
		t.Fatalf("calls = %d, want 3", down.calls.Load())
	}
}

func TestRetryStopsAtMaxAttemptsWithTheLastError(t *testing.T) {
	r := newRetry(t, resilience.WithMaxAttempts(4), fast)
	errs := []error{errors.New("1"), errors.New("2"), errors.New("3"), errors.New("4"), errors.New("5")}
	down := &counted{fn: func(_ context.Context, n int64) error { return errs[n-1] }}
	err := call(r.Middleware()(down))
	if down.calls.Load() != 4 {
		t.Fatalf("calls = %d, want 4", down.calls.Load())
	}
	if err != errs[3] {
		t.Fatalf("err = %v, want the fourth attempt's error unchanged", err)
	}
}

func TestRetryNeverRetriesPermanentOrPauseErrors(t *testing.T) {
	r := newRetry(t, resilience.WithMaxAttempts(10), fast)
	for _, want := range []error{
		bulwark.Permanent(errDown),
		bulwark.Permanentf("bad record %d", 7),
		bulwark.Pause(errDown, time.Second),
		context.Canceled,
	} {
		down := failing(want)
		if err := call(r.Middleware()(down)); err != want {
			t.Fatalf("err = %v, want %v unchanged", err, want)
		}
		if down.calls.Load() != 1 {
			t.Fatalf("%v: calls = %d, want 1", want, down.calls.Load())
		}
	}
	// Nor a permanent error that shows up on a later attempt.
	down := &counted{fn: func(_ context.Context, n int64) error {
		if n == 1 {
			return errDown
		}
		return bulwark.Permanent(errDown)
	}}
	_ = call(r.Middleware()(down))
	if down.calls.Load() != 2 {
		t.Fatalf("calls = %d, want 2 (stop at the permanent error)", down.calls.Load())
	}
}

func TestRetryBacksOffExponentially(t *testing.T) {
	r := newRetry(t, resilience.WithMaxAttempts(4), resilience.WithJitter(0),
		resilience.WithBackoff(20*time.Millisecond, time.Second, 2))
	h := &timed{fn: func(int) error { return errDown }}
	_ = call(r.Middleware()(h))
	gaps := h.gaps()
	if len(gaps) != 3 {
		t.Fatalf("gaps = %v, want 3", gaps)
	}
	for i, min := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond} {
		if gaps[i] < min {
			t.Errorf("backoff %d = %s, want at least %s", i+1, gaps[i], min)
		}
	}
}

func TestRetryBackoffIsCappedAtMax(t *testing.T) {
	r := newRetry(t, resilience.WithMaxAttempts(5), resilience.WithJitter(0),
		resilience.WithBackoff(10*time.Millisecond, 20*time.Millisecond, 10))
	h := &timed{fn: func(int) error { return errDown }}
	start := time.Now()
	_ = call(r.Middleware()(h))
	// 10 + 20 + 20 + 20 = 70ms; uncapped it would be 10+100+1000+...
	if elapsed := time.Since(start); elapsed > 900*time.Millisecond {
		t.Fatalf("took %s: the max backoff did not cap the delays", elapsed)
	}
	if gaps := h.gaps(); len(gaps) != 4 || gaps[3] < 20*time.Millisecond {
		t.Fatalf("gaps = %v", gaps)
	}
}

func TestRetryJitterVariesDelays(t *testing.T) {
	r := newRetry(t, resilience.WithMaxAttempts(2), resilience.WithJitter(0.5),
		resilience.WithBackoff(10*time.Millisecond, 10*time.Millisecond, 1))
	var gaps []time.Duration
	for range 12 {
		h := &timed{fn: func(int) error { return errDown }}
		_ = call(r.Middleware()(h))
		gaps = append(gaps, h.gaps()...)
	}
	lo, hi := gaps[0], gaps[0]
	for _, g := range gaps {
		lo, hi = min(lo, g), max(hi, g)
	}
	if lo < 5*time.Millisecond {
		t.Errorf("shortest delay %s below 10ms - 50%%", lo)
	}
	if hi-lo < 2*time.Millisecond {
		t.Errorf("delays %v do not vary: jitter not applied", gaps)
	}
}

func TestRetryMaxElapsed(t *testing.T) {
	r := newRetry(t, resilience.WithMaxAttempts(1000), resilience.WithJitter(0),
		resilience.WithBackoff(40*time.Millisecond, 40*time.Millisecond, 1),
		resilience.WithMaxElapsed(100*time.Millisecond))
	down := failing(errDown)
	start := time.Now()
	err := call(r.Middleware()(down))
	if !errors.Is(err, errDown) {
		t.Fatalf("err = %v", err)
	}
	// Attempts at about 0, 40, 80 and 100ms (the last backoff shortened).
	if n := down.calls.Load(); n < 3 || n > 5 {
		t.Fatalf("calls = %d, want 3 to 5 within 100ms at 40ms intervals", n)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("took %s", elapsed)
	}
}

func TestRetryStopsWhenTheContextEnds(t *testing.T) {
	r := newRetry(t, resilience.WithMaxAttempts(100), resilience.WithBackoff(time.Hour, time.Hour, 1))
	ctx, cancel := context.WithCancel(context.Background())
	down := failing(errDown)
	done := make(chan error, 1)
	go func() { done <- r.Middleware()(down).Handle(ctx, &bulwark.Message{}) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errDown) {
			t.Fatalf("err = %v, want context.Canceled and the last attempt's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("retry did not stop when the context was cancelled")
	}
	if down.calls.Load() != 1 {
		t.Fatalf("calls = %d, want 1", down.calls.Load())
	}
}

func TestRetryIf(t *testing.T) {
	errFlaky := errors.New("flaky")
	r := newRetry(t, resilience.WithMaxAttempts(3), fast,
		resilience.WithRetryIf(func(err error) bool { return errors.Is(err, errFlaky) }))
	other := failing(errDown)
	_ = call(r.Middleware()(other))
	flaky := failing(errFlaky)
	_ = call(r.Middleware()(flaky))
	if other.calls.Load() != 1 || flaky.calls.Load() != 3 {
		t.Fatalf("calls: other %d (want 1), flaky %d (want 3)", other.calls.Load(), flaky.calls.Load())
	}
	// WithRetryIf cannot make a permanent error retryable.
	perm := failing(bulwark.Permanent(errFlaky))
	_ = call(r.Middleware()(perm))
	if perm.calls.Load() != 1 {
		t.Fatalf("permanent error retried: %d calls", perm.calls.Load())
	}
}

func TestRetryOneAttemptDoesNotRetry(t *testing.T) {
	r := newRetry(t, resilience.WithMaxAttempts(1))
	down := failing(errDown)
	_ = call(r.Middleware()(down))
	if down.calls.Load() != 1 {
		t.Fatalf("calls = %d", down.calls.Load())
	}
}

func TestRetryCountsRetries(t *testing.T) {
	m := newMetrics(t)
	r := newRetry(t, resilience.WithMaxAttempts(3), fast, resilience.WithName("inventory"),
		resilience.WithMeterProvider(m.provider))
	_ = call(r.Middleware()(failing(errDown)))
	if v, _ := m.value(t, resilience.MetricRetries, nameAttr.String("inventory")); v != 2 {
		t.Fatalf("retries = %v, want 2", v)
	}
}

func TestRetryInvalidOptions(t *testing.T) {
	for name, opt := range map[string]resilience.RetryOption{
		"zero attempts":     resilience.WithMaxAttempts(0),
		"negative elapsed":  resilience.WithMaxElapsed(-time.Second),
		"zero backoff":      resilience.WithBackoff(0, time.Second, 2),
		"max below initial": resilience.WithBackoff(time.Second, time.Millisecond, 2),
		"factor below one":  resilience.WithBackoff(time.Millisecond, time.Second, 0.5),
		"jitter above one":  resilience.WithJitter(1.5),
	} {
		if _, err := resilience.NewRetry(opt); !errors.Is(err, resilience.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
}
