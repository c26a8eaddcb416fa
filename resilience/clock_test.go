package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer/consumertest"
	"github.com/bulwarkgo/bulwark/resilience"
)

// The breaker's open delay runs on the clock it is given: advancing a fake
// clock opens the way to a probe, with no real sleep (the delay is 30 s).
func TestBreakerOpensAndHalfOpensOnAFakeClock(t *testing.T) {
	const openDelay = 30 * time.Second
	began := time.Now()
	clock := consumertest.NewFakeClock(time.Time{})
	b := newBreaker(t, resilience.WithConsecutiveFailures(2), resilience.WithOpenDelay(openDelay), resilience.WithClock(clock))
	fail := true
	down := &counted{fn: func(context.Context, int64) error {
		if fail {
			return errDown
		}
		return nil
	}}
	h := b.Middleware()(down)

	_, _ = call(h), call(h)
	if b.State() != resilience.BreakerOpen {
		t.Fatalf("state %v after 2 failures, want open", b.State())
	}
	rejectedWith := func(want time.Duration) {
		t.Helper()
		calls := down.calls.Load()
		if d := assertOpenRejection(t, call(h), want); d != want {
			t.Fatalf("pause delay %v, want the remaining %v", d, want)
		}
		if down.calls.Load() != calls {
			t.Fatal("an open breaker let a call through")
		}
	}
	rejectedWith(openDelay) // the fake clock has not moved
	clock.Advance(10 * time.Second)
	if got := b.RemainingDelay(); got != 20*time.Second {
		t.Fatalf("remaining delay %v, want 20s", got)
	}
	rejectedWith(20 * time.Second)
	clock.Advance(20*time.Second - time.Nanosecond)
	rejectedWith(time.Nanosecond)

	// The delay has passed: the next call is a probe. It fails, so the
	// breaker reopens for a full delay from now.
	clock.Advance(time.Nanosecond)
	if err := call(h); !errors.Is(err, errDown) {
		t.Fatalf("probe returned %v, want the downstream's error", err)
	}
	if b.State() != resilience.BreakerOpen || b.RemainingDelay() != openDelay {
		t.Fatalf("after a failed probe: %v with %v remaining, want open for %v", b.State(), b.RemainingDelay(), openDelay)
	}
	clock.Advance(openDelay)
	fail = false
	if err := call(h); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != resilience.BreakerClosed {
		t.Fatalf("state %v after a good probe, want closed", b.State())
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("took %s of real time for %s of virtual time", took, 2*openDelay)
	}
}

// One fake clock drives a consumertest harness and the breaker in its
// middleware: the harness pauses for the delays the open breaker gives,
// its virtual time makes the breaker half-open, and the record is handled
// once the downstream is back, without a dead letter or a real sleep.
func testHarnessAndBreakerShareAFakeClock(t *testing.T) {
	const (
		openDelay = 10 * time.Second
		outage    = 45 * time.Second
	)
	clock := consumertest.NewAutoClock(time.Time{})
	start := clock.Now()
	b := newBreaker(t, resilience.WithConsecutiveFailures(3), resilience.WithOpenDelay(openDelay), resilience.WithClock(clock))
	down := &counted{fn: func(context.Context, int64) error {
		if clock.Now().Sub(start) < outage {
			return errDown
		}
		return nil
	}}
	h, err := consumertest.New(down, consumertest.WithMiddleware(b.Middleware()),
		consumertest.WithClock(clock), consumertest.WithRetry(5, time.Second, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	res := h.Deliver(context.Background(), &bulwark.Message{Topic: "t"})
	if res.Outcome != consumertest.Handled || !res.Paused || len(h.DeadLetters()) != 0 {
		t.Fatalf("result %+v, %d dead letters; want handled after pausing", res, len(h.DeadLetters()))
	}
	if elapsed := clock.Now().Sub(start); elapsed < outage || elapsed > outage+2*openDelay {
		t.Fatalf("handled after %v of virtual time, want between %v and %v", elapsed, outage, outage+2*openDelay)
	}
	t.Logf("handled after %d attempts, %d downstream calls, waits %v", res.Attempts, down.calls.Load(), res.Waits)
	pauses := 0
	for _, w := range res.Waits {
		if w > openDelay {
			t.Fatalf("wait %v longer than the open delay %v", w, openDelay)
		}
		if w > time.Second {
			pauses++
		}
	}
	// 3 calls open the breaker, then one probe per open delay (and its
	// in-place retry, which meets the reopened breaker).
	if max := int64(3 + outage/openDelay + 2); down.calls.Load() > max {
		t.Fatalf("%d downstream calls, want at most %d: the breaker let more than probes through", down.calls.Load(), max)
	}
	if pauses < int(outage/openDelay)-1 {
		t.Fatalf("%d pauses in waits %v, want one per open delay", pauses, res.Waits)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("took %s of real time", took)
	}
}

// The retry's backoff is slept on its clock: an auto clock moves by
// exactly the backoff sequence, and the max elapsed time is measured on it.
func TestRetryBacksOffOnAFakeClock(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        []resilience.RetryOption
		calls       int64
		virtualTime time.Duration
	}{
		{"exponential, capped", []resilience.RetryOption{resilience.WithMaxAttempts(6),
			resilience.WithBackoff(time.Second, 10*time.Second, 2)}, 6, (1 + 2 + 4 + 8 + 10) * time.Second},
		{"max elapsed shortens the last backoff", []resilience.RetryOption{resilience.WithMaxAttempts(100),
			resilience.WithBackoff(4*time.Second, 4*time.Second, 1), resilience.WithMaxElapsed(10 * time.Second)}, 4, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			clock := consumertest.NewAutoClock(time.Time{})
			start := clock.Now()
			r := newRetry(t, append(tc.opts, resilience.WithJitter(0), resilience.WithClock(clock))...)
			down := failing(errDown)
			if err := call(r.Middleware()(down)); !errors.Is(err, errDown) {
				t.Fatalf("err %v, want the last attempt's", err)
			}
			if down.calls.Load() != tc.calls || clock.Now().Sub(start) != tc.virtualTime {
				t.Fatalf("%d calls over %v of virtual time, want %d over %v",
					down.calls.Load(), clock.Now().Sub(start), tc.calls, tc.virtualTime)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Fatalf("took %s of real time", took)
			}
		})
	}
}

// A full bulkhead's wait runs on its clock: the waiting call is rejected
// when the fake clock passes the max wait, not before.
func TestBulkheadMaxWaitOnAFakeClock(t *testing.T) {
	const maxWait = time.Minute
	clock := consumertest.NewFakeClock(time.Time{})
	bh := newBulkhead(t, 1, resilience.WithMaxWait(maxWait), resilience.WithClock(clock))
	release, holding := make(chan struct{}), make(chan struct{})
	hold := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		close(holding)
		<-release
		return nil
	})
	h := bh.Middleware()
	go func() { _ = call(h(hold)) }()
	defer close(release)
	<-holding

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- call(h(&counted{})) }()
	if err := clock.WaitForSleepers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(maxWait - time.Nanosecond)
	select {
	case err := <-errc:
		t.Fatalf("the call returned %v before its max wait", err)
	default:
	}
	clock.Advance(time.Nanosecond)
	select {
	case err := <-errc:
		if !errors.Is(err, resilience.ErrBulkheadFull) || bulwark.ClassOf(err) != bulwark.ClassPause {
			t.Fatalf("err %v, want ErrBulkheadFull of the pause class", err)
		}
	case <-ctx.Done():
		t.Fatal("the call still waits after its max wait")
	}
}

// The failure-rate window slides on the breaker's clock: failures a
// window old no longer count, and the window is counted in tenths. On the
// wall clock (the test takes milliseconds) all 7 calls would be in one
// window, 4 failures of 7, and the breaker would open at the 4th call.
func TestBreakerFailureRateWindowOnAFakeClock(t *testing.T) {
	const window = time.Minute
	began := time.Now()
	clock := consumertest.NewFakeClock(time.Time{})
	b := newBreaker(t, resilience.WithFailureRate(0.5, 4, window), resilience.WithOpenDelay(time.Hour),
		resilience.WithClock(clock))
	fail := false
	h := b.Middleware()(&counted{fn: func(context.Context, int64) error {
		if fail {
			return errDown
		}
		return nil
	}})
	calls := func(f bool, n int) {
		t.Helper()
		fail = f
		for range n {
			_ = call(h)
		}
	}
	calls(true, 3) // 3 failures, fewer than the minimum calls
	clock.Advance(window)
	calls(false, 3)
	calls(true, 1) // the first 3 have left the window: 1 failure of 4
	if b.State() != resilience.BreakerClosed {
		t.Fatal("opened on failures older than the window")
	}
	// 9 tenths on, the last 4 calls are still in the window.
	clock.Advance(window * 9 / 10)
	calls(true, 1) // 2 of 5
	if b.State() != resilience.BreakerClosed {
		t.Fatal("opened at 2 failures of 5")
	}
	calls(true, 1) // 3 of 6
	if b.State() != resilience.BreakerOpen {
		t.Fatalf("state %v at 3 failures of 6 in the window, want open", b.State())
	}
	// Closing (a good probe) empties the window: a failure right after
	// is 1 of 1, fewer than the minimum calls.
	clock.Advance(time.Hour)
	calls(false, 1)
	calls(true, 3)
	if b.State() != resilience.BreakerClosed {
		t.Fatalf("state %v after a good probe and 3 failures, want closed: the window did not start anew", b.State())
	}
	calls(true, 1)
	if b.State() != resilience.BreakerOpen {
		t.Fatalf("state %v after 4 failures, want open", b.State())
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("took %s of real time", took)
	}
}

// The rate limiter's permits are counted on its clock: a smooth limiter
// frees the next permit one interval later on the fake clock, not before.
func TestRateLimiterSmoothOnAFakeClock(t *testing.T) {
	clock := consumertest.NewFakeClock(time.Time{})
	l := newLimiter(t, 10, time.Second, resilience.WithMaxWait(0), resilience.WithClock(clock)) // one per 100ms
	down := &counted{}
	h := l.Middleware()(down)
	if err := call(h); err != nil {
		t.Fatal(err)
	}
	for range 3 { // real time passes; the fake clock does not
		assertRateLimited(t, call(h), 100*time.Millisecond)
	}
	clock.Advance(100*time.Millisecond - time.Nanosecond)
	assertRateLimited(t, call(h), 100*time.Millisecond)
	clock.Advance(time.Nanosecond)
	if err := call(h); err != nil {
		t.Fatalf("a permit an interval later: %v", err)
	}
	// An idle hour saves no permits up: a smooth limiter has no bursts.
	clock.Advance(time.Hour)
	if err := call(h); err != nil {
		t.Fatal(err)
	}
	assertRateLimited(t, call(h), 100*time.Millisecond)
	if down.calls.Load() != 3 {
		t.Fatalf("%d calls went through, want 3", down.calls.Load())
	}
}

// A bursty limiter has a period's permits at once, and the next period's
// when the fake clock gets there.
func TestRateLimiterBurstyOnAFakeClock(t *testing.T) {
	clock := consumertest.NewFakeClock(time.Time{})
	l := newLimiter(t, 5, time.Hour, resilience.WithBursts(), resilience.WithMaxWait(0),
		resilience.WithPauseDelay(time.Second), resilience.WithClock(clock))
	down := &counted{}
	h := l.Middleware()(down)
	period := func(want int64) {
		t.Helper()
		for i := range 5 {
			if err := call(h); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		assertRateLimited(t, call(h), time.Second)
		if down.calls.Load() != want {
			t.Fatalf("calls = %d, want %d", down.calls.Load(), want)
		}
	}
	period(5)
	clock.Advance(time.Hour - time.Nanosecond)
	assertRateLimited(t, call(h), time.Second)
	clock.Advance(time.Nanosecond)
	period(10)
	clock.Advance(3 * time.Hour) // idle periods do not add up
	period(15)
}

// A call that must wait for its permit sleeps on the limiter's clock, and
// goes through when the fake clock reaches the permit, not before.
func TestRateLimiterWaitsOnAFakeClock(t *testing.T) {
	clock := consumertest.NewFakeClock(time.Time{})
	l := newLimiter(t, 1, time.Minute, resilience.WithMaxWait(2*time.Minute), resilience.WithClock(clock))
	down := &counted{}
	h := l.Middleware()(down)
	if err := call(h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- call(h) }()
	if err := clock.WaitForSleepers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute - time.Nanosecond)
	select {
	case err := <-errc:
		t.Fatalf("the waiting call returned %v before its permit", err)
	default:
	}
	clock.Advance(time.Nanosecond)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the call still waits after its permit came")
	}
	if down.calls.Load() != 2 {
		t.Fatalf("%d calls, want 2", down.calls.Load())
	}
}

func TestNilClock(t *testing.T) {
	_, errB := resilience.NewBreaker(resilience.WithClock(nil))
	_, errR := resilience.NewRetry(resilience.WithClock(nil))
	_, errH := resilience.NewBulkhead(1, resilience.WithClock(nil))
	_, errL := resilience.NewRateLimiter(1, time.Second, resilience.WithClock(nil))
	for _, err := range []error{errB, errR, errH, errL} {
		if !errors.Is(err, resilience.ErrInvalidConfig) {
			t.Errorf("error %v, want ErrInvalidConfig", err)
		}
	}
}
