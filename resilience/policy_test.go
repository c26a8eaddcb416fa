package resilience_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/resilience"
)

// Retry outside the breaker: each attempt is a breaker call, so one
// failing record opens a breaker that trips after 3 failures. Breaker
// outside retry: the three attempts are one breaker call.
func TestChainOrderRetryAndBreaker(t *testing.T) {
	retry := newRetry(t, resilience.WithMaxAttempts(3), fast)

	b := newBreaker(t, resilience.WithConsecutiveFailures(3), resilience.WithOpenDelay(time.Hour))
	_ = call(resilience.Chain(retry, b)(failing(errDown)))
	if b.State() != resilience.BreakerOpen {
		t.Fatalf("Chain(retry, breaker): state = %v, want open after one record's 3 attempts", b.State())
	}

	b = newBreaker(t, resilience.WithConsecutiveFailures(3), resilience.WithOpenDelay(time.Hour))
	down := failing(errDown)
	_ = call(resilience.Chain(b, retry)(down))
	if b.State() != resilience.BreakerClosed || down.calls.Load() != 3 {
		t.Fatalf("Chain(breaker, retry): state = %v after %d calls, want closed after 3", b.State(), down.calls.Load())
	}
}

// Retry does not retry the open breaker's rejection: it is pause class.
func TestRetryOutsideOpenBreakerReturnsPauseAtOnce(t *testing.T) {
	b := newBreaker(t, resilience.WithConsecutiveFailures(1), resilience.WithOpenDelay(time.Hour))
	retry := newRetry(t, resilience.WithMaxAttempts(5), fast)
	down := failing(errDown)
	h := resilience.Chain(retry, b)(down)
	_ = call(h) // opens on the first attempt; the second is rejected, not retried
	if down.calls.Load() != 1 {
		t.Fatalf("downstream calls = %d, want 1", down.calls.Load())
	}
	start := time.Now()
	assertOpenRejection(t, call(h), time.Hour)
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("rejection was retried with backoff")
	}
}

// Timeout inside retry bounds each attempt; outside, the whole call.
func TestChainOrderRetryAndTimeout(t *testing.T) {
	retry := newRetry(t, resilience.WithMaxAttempts(3), fast)
	to := newTimeout(t, 20*time.Millisecond)
	slow := func() *counted {
		return &counted{fn: func(ctx context.Context, _ int64) error { <-ctx.Done(); return ctx.Err() }}
	}

	inner := slow()
	err := call(resilience.Chain(retry, to)(inner))
	if inner.calls.Load() != 3 || !errors.Is(err, resilience.ErrTimeout) {
		t.Fatalf("Chain(retry, timeout): %d calls, err %v; want 3 timed-out attempts", inner.calls.Load(), err)
	}

	outer := slow()
	err = call(resilience.Chain(to, retry)(outer))
	if outer.calls.Load() != 1 || !errors.Is(err, resilience.ErrTimeout) {
		t.Fatalf("Chain(timeout, retry): %d calls, err %v; want 1 attempt cut by the timeout", outer.calls.Load(), err)
	}
}

// A full bulkhead inside a breaker does not count as a breaker failure.
func TestBulkheadRejectionDoesNotTripBreaker(t *testing.T) {
	b := newBreaker(t, resilience.WithConsecutiveFailures(1), resilience.WithOpenDelay(time.Hour))
	bh := newBulkhead(t, 1, resilience.WithMaxWait(0))
	hold, entered := make(chan struct{}), make(chan struct{})
	h := resilience.Chain(b, bh)(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		entered <- struct{}{}
		<-hold
		return nil
	}))
	go func() { _ = call(h) }()
	<-entered
	err := call(h)
	close(hold)
	if !errors.Is(err, resilience.ErrBulkheadFull) || b.State() != resilience.BreakerClosed {
		t.Fatalf("err %v, breaker %v; want ErrBulkheadFull and a closed breaker", err, b.State())
	}
}

func TestChainIsOrderedLikeBulwarkChain(t *testing.T) {
	var order []string
	b := newBreaker(t)
	to := newTimeout(t, time.Second)
	trace := func(name string) bulwark.Middleware {
		return func(next bulwark.Handler) bulwark.Handler {
			return bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
				order = append(order, name)
				return next.Handle(ctx, m)
			})
		}
	}
	h := bulwark.Chain(trace("a"), b.Middleware(), trace("b"), to.Middleware(), trace("c"))(&counted{})
	if err := call(h); err != nil {
		t.Fatal(err)
	}
	if got := len(order); got != 3 || order[0] != "a" || order[1] != "b" || order[2] != "c" {
		t.Fatalf("order = %v", order)
	}
	if resilience.Chain(nil, b, nil)(&counted{}) == nil {
		t.Fatal("Chain with nil policies returned nil")
	}
}

func TestDoAndGet(t *testing.T) {
	retry := newRetry(t, resilience.WithMaxAttempts(3), fast)
	to := newTimeout(t, time.Second)
	n := 0
	v, err := resilience.Get(context.Background(), func(ctx context.Context) (int, error) {
		n++
		if _, ok := ctx.Deadline(); !ok {
			return 0, errors.New("no deadline from the timeout")
		}
		if n < 2 {
			return -1, errDown
		}
		return 42, nil
	}, retry, to)
	if err != nil || v != 42 || n != 2 {
		t.Fatalf("Get = %d, %v after %d calls; want 42, nil after 2", v, err, n)
	}

	v, err = resilience.Get(context.Background(), func(context.Context) (int, error) {
		return 7, bulwark.Permanent(errDown)
	}, retry)
	if v != 0 || !errors.Is(err, bulwark.ErrPermanent) {
		t.Fatalf("Get = %d, %v; want the zero value and the permanent error", v, err)
	}

	calls := 0
	err = resilience.Do(context.Background(), func(context.Context) error { calls++; return errDown }, retry)
	if !errors.Is(err, errDown) || calls != 3 {
		t.Fatalf("Do = %v after %d calls", err, calls)
	}
	if err := resilience.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("Do without policies = %v", err)
	}
}

// A producer send guarded by the same breaker as a consumer handler.
func TestPoliciesAroundAProducerSend(t *testing.T) {
	b := newBreaker(t, resilience.WithConsecutiveFailures(2), resilience.WithOpenDelay(time.Hour))
	send := func(ctx context.Context, key string) error { return errDown } // a broker that is down
	for i := range 2 {
		_ = resilience.Do(context.Background(), func(ctx context.Context) error {
			return send(ctx, strconv.Itoa(i))
		}, b)
	}
	handler := &counted{}
	assertOpenRejection(t, call(b.Middleware()(handler)), time.Hour)
	if handler.calls.Load() != 0 {
		t.Fatal("handler ran while the shared breaker was open")
	}
}
