package resilience_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/resilience"
	"go.opentelemetry.io/otel/attribute"
)

func newBreaker(t *testing.T, opts ...resilience.BreakerOption) *resilience.Breaker {
	t.Helper()
	b, err := resilience.NewBreaker(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// assertOpenRejection checks that err is the breaker's rejection: pause
// class, ErrBreakerOpen, with a delay within (0, max].
func assertOpenRejection(t *testing.T, err error, max time.Duration) time.Duration {
	t.Helper()
	if !errors.Is(err, resilience.ErrBreakerOpen) {
		t.Fatalf("err = %v, want ErrBreakerOpen", err)
	}
	delay, pause := bulwark.PauseDelay(err)
	if !pause || bulwark.ClassOf(err) != bulwark.ClassPause {
		t.Fatalf("err %v is class %v, want pause", err, bulwark.ClassOf(err))
	}
	if delay <= 0 || delay > max {
		t.Fatalf("pause delay %s not within (0, %s]", delay, max)
	}
	return delay
}

func TestBreakerOpensAfterConsecutiveFailures(t *testing.T) {
	b := newBreaker(t, resilience.WithConsecutiveFailures(3), resilience.WithOpenDelay(time.Hour))
	fail := true
	down := &counted{fn: func(context.Context, int64) error {
		if fail {
			return errDown
		}
		return nil
	}}
	h := b.Middleware()(down)

	// Two failures, a success, two failures: never three in a row.
	for _, f := range []bool{true, true, false, true, true} {
		fail = f
		_ = call(h)
	}
	if got := b.State(); got != resilience.BreakerClosed {
		t.Fatalf("state after non-consecutive failures = %v, want closed", got)
	}
	fail = true
	if err := call(h); !errors.Is(err, errDown) {
		t.Fatalf("third consecutive failure returned %v", err)
	}
	if got := b.State(); got != resilience.BreakerOpen {
		t.Fatalf("state = %v, want open", got)
	}
	before := down.calls.Load()
	delay := assertOpenRejection(t, call(h), time.Hour)
	if delay < 59*time.Minute {
		t.Errorf("pause delay %s, want the remaining open delay (about 1h)", delay)
	}
	if down.calls.Load() != before {
		t.Error("the downstream was called while the breaker was open")
	}
}

func TestBreakerHalfOpenProbesThenCloses(t *testing.T) {
	const delay = 50 * time.Millisecond
	b := newBreaker(t, resilience.WithConsecutiveFailures(1), resilience.WithOpenDelay(delay),
		resilience.WithHalfOpenProbes(2))
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	down := &counted{fn: func(_ context.Context, n int64) error {
		if n == 1 {
			return errDown
		}
		entered <- struct{}{}
		<-release
		return nil
	}}
	h := b.Middleware()(down)
	_ = call(h)
	if b.State() != resilience.BreakerOpen {
		t.Fatalf("state = %v, want open", b.State())
	}
	time.Sleep(delay + 10*time.Millisecond)

	// Two probes go through and hold; a third call finds no probe permit.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() { errs <- call(h) })
	}
	<-entered
	<-entered
	if got := b.State(); got != resilience.BreakerHalfOpen {
		t.Fatalf("state with probes in flight = %v, want half-open", got)
	}
	assertOpenRejection(t, call(h), delay)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("probe returned %v", err)
		}
	}
	if got := b.State(); got != resilience.BreakerClosed {
		t.Fatalf("state after two successful probes = %v, want closed", got)
	}
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	const delay = 30 * time.Millisecond
	b := newBreaker(t, resilience.WithConsecutiveFailures(2), resilience.WithOpenDelay(delay),
		resilience.WithHalfOpenProbes(3))
	down := failing(errDown)
	h := b.Middleware()(down)
	_, _ = call(h), call(h)
	time.Sleep(delay + 10*time.Millisecond)
	if err := call(h); !errors.Is(err, errDown) {
		t.Fatalf("probe returned %v, want the downstream error", err)
	}
	if got := b.State(); got != resilience.BreakerOpen {
		t.Fatalf("state after a failed probe = %v, want open", got)
	}
	if down.calls.Load() != 3 {
		t.Fatalf("downstream calls = %d, want 3", down.calls.Load())
	}
}

func TestBreakerDefaultClassifier(t *testing.T) {
	b := newBreaker(t, resilience.WithConsecutiveFailures(2), resilience.WithOpenDelay(time.Hour))
	for _, err := range []error{
		bulwark.Permanent(errDown),
		bulwark.Pause(errDown, time.Second),
		context.Canceled,
		fmt.Errorf("wrapped: %w", context.Canceled),
	} {
		h := b.Middleware()(failing(err))
		for range 5 {
			_ = call(h)
		}
		if got := b.State(); got != resilience.BreakerClosed {
			t.Fatalf("state after errors like %v = %v, want closed (they do not count)", err, got)
		}
	}
	// Retryable errors, timeouts and unclassified errors count.
	for _, err := range []error{bulwark.Retryable(errDown), &resilience.TimeoutError{Limit: time.Second, Err: context.DeadlineExceeded}, errDown} {
		if !resilience.CountsAsFailure(err) {
			t.Errorf("CountsAsFailure(%v) = false", err)
		}
	}
	h := b.Middleware()(failing(bulwark.Retryable(errDown)))
	_, _ = call(h), call(h)
	if got := b.State(); got != resilience.BreakerOpen {
		t.Fatalf("state after two retryable failures = %v, want open", got)
	}
}

func TestBreakerCustomClassifier(t *testing.T) {
	errSlow := errors.New("slow")
	b := newBreaker(t, resilience.WithConsecutiveFailures(2), resilience.WithOpenDelay(time.Hour),
		resilience.WithFailureClassifier(func(err error) bool { return errors.Is(err, errSlow) }))
	other := b.Middleware()(failing(errDown))
	for range 5 {
		_ = call(other)
	}
	if b.State() != resilience.BreakerClosed {
		t.Fatal("an error the classifier does not count opened the breaker")
	}
	slow := b.Middleware()(failing(bulwark.Permanent(errSlow)))
	_, _ = call(slow), call(slow)
	if b.State() != resilience.BreakerOpen {
		t.Fatal("errors the classifier counts did not open the breaker")
	}
}

func TestBreakerFailureRate(t *testing.T) {
	b := newBreaker(t, resilience.WithFailureRate(0.5, 4, time.Minute), resilience.WithOpenDelay(time.Hour))
	fail := false
	h := b.Middleware()(&counted{fn: func(context.Context, int64) error {
		if fail {
			return errDown
		}
		return nil
	}})
	// fail, ok, ok: 1/3 over fewer than the minimum calls.
	for _, f := range []bool{true, false, false} {
		fail = f
		_ = call(h)
	}
	if b.State() != resilience.BreakerClosed {
		t.Fatal("opened before the minimum number of calls")
	}
	fail = true
	_ = call(h) // 2 failures of 4: rate 0.5
	if b.State() != resilience.BreakerOpen {
		t.Fatal("did not open at a failure rate of 0.5 over 4 calls")
	}
}

func TestBreakerFailureRateBelowThresholdStaysClosed(t *testing.T) {
	b := newBreaker(t, resilience.WithFailureRate(0.5, 4, time.Minute), resilience.WithOpenDelay(time.Hour))
	n := 0
	h := b.Middleware()(&counted{fn: func(context.Context, int64) error {
		n++
		if n%3 == 0 { // one in three fails
			return errDown
		}
		return nil
	}})
	for range 30 {
		_ = call(h)
	}
	if b.State() != resilience.BreakerClosed {
		t.Fatal("opened at a failure rate of 1/3 with a threshold of 0.5")
	}
}

func TestBreakerIsSharedByEveryHandlerItWraps(t *testing.T) {
	b := newBreaker(t, resilience.WithConsecutiveFailures(2), resilience.WithOpenDelay(time.Hour))
	consumerA := b.Middleware()(failing(errDown))
	healthy := &counted{}
	consumerB := b.Middleware()(healthy)
	_, _ = call(consumerA), call(consumerA)
	assertOpenRejection(t, call(consumerB), time.Hour)
	if healthy.calls.Load() != 0 {
		t.Fatal("the second consumer's call went through an open breaker")
	}
	// And around a plain function.
	err := resilience.Do(context.Background(), func(context.Context) error { return nil }, b)
	assertOpenRejection(t, err, time.Hour)
}

func TestBreakerPanicReleasesProbe(t *testing.T) {
	const delay = 20 * time.Millisecond
	b := newBreaker(t, resilience.WithConsecutiveFailures(1), resilience.WithOpenDelay(delay))
	h := b.Middleware()(&counted{fn: func(_ context.Context, n int64) error {
		if n == 2 {
			panic("boom")
		}
		return errDown
	}})
	_ = call(h)
	time.Sleep(delay + 10*time.Millisecond)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic did not propagate")
			}
		}()
		_ = call(h)
	}()
	if got := b.State(); got != resilience.BreakerOpen {
		t.Fatalf("state after a panicking probe = %v, want open (counted as a failure)", got)
	}
	time.Sleep(delay + 10*time.Millisecond)
	if err := call(h); !errors.Is(err, errDown) {
		t.Fatalf("next probe after the panic was not let through: %v", err)
	}
}

func TestBreakerTelemetry(t *testing.T) {
	m := newMetrics(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	b := newBreaker(t, resilience.WithName("payments"), resilience.WithMeterProvider(m.provider),
		resilience.WithLogger(logger), resilience.WithConsecutiveFailures(1),
		resilience.WithOpenDelay(time.Hour))
	name := nameAttr.String("payments")
	if v, ok := m.value(t, resilience.MetricBreakerState, name); !ok || v != 0 {
		t.Fatalf("state gauge = %v (%v), want 0", v, ok)
	}
	h := b.Middleware()(failing(errDown))
	_ = call(h)
	_, _ = call(h), call(h)
	if v, _ := m.value(t, resilience.MetricBreakerState, name); v != 1 {
		t.Fatalf("state gauge = %v, want 1 (open)", v)
	}
	if v, _ := m.value(t, resilience.MetricRejections, name,
		attribute.String("bulwark.resilience.policy", "breaker")); v != 2 {
		t.Fatalf("rejections = %v, want 2", v)
	}
	if v, _ := m.value(t, resilience.MetricTransitions, name,
		attribute.String("bulwark.resilience.breaker.state", "open")); v != 1 {
		t.Fatalf("transitions to open = %v, want 1", v)
	}
	if !strings.Contains(logs.String(), "circuit breaker opened") || !strings.Contains(logs.String(), "resilience_name=payments") {
		t.Fatalf("state change not logged: %q", logs.String())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, ok := m.value(t, resilience.MetricBreakerState, name); ok {
		t.Fatal("state gauge still reported after Close")
	}
}

func TestBreakerInvalidOptions(t *testing.T) {
	for name, opts := range map[string][]resilience.BreakerOption{
		"both rules":     {resilience.WithConsecutiveFailures(3), resilience.WithFailureRate(0.5, 10, time.Second)},
		"negative count": {resilience.WithConsecutiveFailures(-1)},
		"rate above one": {resilience.WithFailureRate(1.5, 10, time.Second)},
		"rate negative":  {resilience.WithFailureRate(-0.1, 10, time.Second)},
		"no min calls":   {resilience.WithFailureRate(0.5, 0, time.Second)},
		"no window":      {resilience.WithFailureRate(0.5, 10, 0)},
		"zero delay":     {resilience.WithOpenDelay(0)},
		"zero probes":    {resilience.WithHalfOpenProbes(0)},
		"nil classifier": {resilience.WithFailureClassifier(nil)},
	} {
		if _, err := resilience.NewBreaker(opts...); !errors.Is(err, resilience.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
}
