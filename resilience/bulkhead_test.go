package resilience_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer/consumertest"
	"github.com/bulwarkgo/bulwark/internal/telemetry/telemetrytest"
	"github.com/bulwarkgo/bulwark/resilience"
	"go.opentelemetry.io/otel/attribute"
)

func newBulkhead(t *testing.T, n int, opts ...resilience.BulkheadOption) *resilience.Bulkhead {
	t.Helper()
	b, err := resilience.NewBulkhead(n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gauge tracks how many calls are inside the handler, and the most ever.
type gauge struct{ now, peak atomic.Int64 }

func (g *gauge) enter() {
	n := g.now.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.now.Add(-1) }

func TestBulkheadLimitHoldsUnder200ConcurrentCalls(t *testing.T) {
	const limit, callers = 8, 200
	b := newBulkhead(t, limit, resilience.WithMaxWait(time.Minute))
	var g gauge
	h := b.Middleware()(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		g.enter()
		defer g.leave()
		time.Sleep(time.Millisecond)
		return nil
	}))
	start := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range callers {
		wg.Go(func() {
			<-start
			if err := call(h); err != nil {
				failed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed; with a minute's wait all should get a slot", failed.Load())
	}
	if peak := g.peak.Load(); peak > limit {
		t.Fatalf("%d calls ran at once, limit %d", peak, limit)
	} else if peak < limit {
		t.Fatalf("peak concurrency %d never reached the limit %d: the test did not load the bulkhead", peak, limit)
	}
}

func TestBulkheadFullPastMaxWaitPauses(t *testing.T) {
	m := newMetrics(t)
	b := newBulkhead(t, 1, resilience.WithMaxWait(30*time.Millisecond),
		resilience.WithPauseDelay(250*time.Millisecond), resilience.WithName("db"),
		resilience.WithMeterProvider(m.provider))
	hold, entered := make(chan struct{}), make(chan struct{})
	h := b.Middleware()(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		entered <- struct{}{}
		<-hold
		return nil
	}))
	go func() { _ = call(h) }()
	<-entered
	start := time.Now()
	err := call(h)
	waited := time.Since(start)
	close(hold)
	if !errors.Is(err, resilience.ErrBulkheadFull) {
		t.Fatalf("err = %v, want ErrBulkheadFull", err)
	}
	if d, ok := bulwark.PauseDelay(err); !ok || d != 250*time.Millisecond {
		t.Fatalf("err class %v delay %s, want pause 250ms", bulwark.ClassOf(err), d)
	}
	if waited < 30*time.Millisecond {
		t.Fatalf("rejected after %s, before the max wait", waited)
	}
	name := nameAttr.String("db")
	if v, _ := m.value(t, resilience.MetricRejections, name,
		attribute.String("bulwark.resilience.policy", "bulkhead")); v != 1 {
		t.Fatalf("rejections = %v, want 1", v)
	}
	if v, _ := m.value(t, resilience.MetricBulkheadWait, name); v != 1 {
		t.Fatalf("wait histogram count = %v, want 1", v)
	}
	if v, ok := m.value(t, resilience.MetricBulkheadQueued, name); !ok || v != 0 {
		t.Fatalf("queued = %v (%v), want 0 after the wait", v, ok)
	}
}

func TestBulkheadQueuedWhileWaiting(t *testing.T) {
	m := newMetrics(t)
	b := newBulkhead(t, 1, resilience.WithMaxWait(time.Minute), resilience.WithMeterProvider(m.provider))
	hold, entered := make(chan struct{}), make(chan struct{}, 3)
	h := b.Middleware()(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		entered <- struct{}{}
		<-hold
		return nil
	}))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { _ = call(h) })
	}
	<-entered
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, _ := m.value(t, resilience.MetricBulkheadQueued); v == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("queued gauge never showed the 2 waiting calls")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(hold)
	wg.Wait()
}

func TestBulkheadZeroWaitRejectsAtOnce(t *testing.T) {
	b := newBulkhead(t, 1, resilience.WithMaxWait(0))
	hold, entered := make(chan struct{}), make(chan struct{})
	h := b.Middleware()(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		entered <- struct{}{}
		<-hold
		return nil
	}))
	go func() { _ = call(h) }()
	<-entered
	err := call(h)
	close(hold)
	if d, ok := bulwark.PauseDelay(err); !errors.Is(err, resilience.ErrBulkheadFull) || !ok || d != resilience.DefaultBulkheadPause {
		t.Fatalf("err = %v (pause %v, delay %s), want ErrBulkheadFull paused for the default", err, ok, d)
	}
}

func TestBulkheadWaitEndsWithTheContext(t *testing.T) {
	b := newBulkhead(t, 1, resilience.WithMaxWait(time.Hour))
	hold, entered := make(chan struct{}), make(chan struct{})
	h := b.Middleware()(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		entered <- struct{}{}
		<-hold
		return nil
	}))
	go func() { _ = call(h) }()
	<-entered
	defer close(hold)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := h.Handle(ctx, &bulwark.Message{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's error", err)
	}
}

func TestBulkheadPanicReleasesSlot(t *testing.T) {
	b := newBulkhead(t, 1, resilience.WithMaxWait(0))
	boom := b.Middleware()(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { panic("boom") }))
	func() {
		defer func() { _ = recover() }()
		_ = call(boom)
	}()
	if err := call(b.Middleware()(&counted{})); err != nil {
		t.Fatalf("slot not released after a panic: %v", err)
	}
}

func TestBulkheadInvalidOptions(t *testing.T) {
	if _, err := resilience.NewBulkhead(0); !errors.Is(err, resilience.ErrInvalidConfig) {
		t.Errorf("zero slots: %v", err)
	}
	if _, err := resilience.NewBulkhead(1, resilience.WithMaxWait(-1)); !errors.Is(err, resilience.ErrInvalidConfig) {
		t.Errorf("negative wait: %v", err)
	}
	if _, err := resilience.NewBulkhead(1, resilience.WithPauseDelay(0)); !errors.Is(err, resilience.ErrInvalidConfig) {
		t.Errorf("zero pause: %v", err)
	}
}

// A 2 ms wait for a slot (on a fake clock) lands in a bucket at or below
// 5 ms.
func TestBulkheadWaitHistogramBuckets(t *testing.T) {
	mp, r := telemetrytest.Reader(t)
	clock := consumertest.NewFakeClock(time.Time{})
	b := newBulkhead(t, 1, resilience.WithMaxWait(2*time.Millisecond), resilience.WithClock(clock),
		resilience.WithMeterProvider(mp))
	hold, entered := make(chan struct{}), make(chan struct{})
	h := b.Middleware()(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		close(entered)
		<-hold
		return nil
	}))
	go func() { _ = call(h) }()
	defer close(hold)
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- call(h) }()
	if err := clock.WaitForSleepers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Millisecond)
	if err := <-errc; !errors.Is(err, resilience.ErrBulkheadFull) {
		t.Fatalf("err %v, want ErrBulkheadFull after the 2 ms wait", err)
	}
	dp := telemetrytest.Histogram(t, r, resilience.MetricBulkheadWait)
	telemetrytest.AssertDurationBuckets(t, resilience.MetricBulkheadWait, dp)
	if dp.Sum != 0.002 {
		t.Fatalf("wait sum %v s, want the 2 ms of the fake clock", dp.Sum)
	}
}
