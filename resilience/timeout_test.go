package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/resilience"
)

func newTimeout(t *testing.T, d time.Duration, opts ...resilience.TimeoutOption) *resilience.Timeout {
	t.Helper()
	to, err := resilience.NewTimeout(d, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// blocking waits for its context to end and returns what fn makes of it.
func blocking(fn func(ctxErr error) error) bulwark.Handler {
	return bulwark.HandlerFunc(func(ctx context.Context, _ *bulwark.Message) error {
		<-ctx.Done()
		return fn(ctx.Err())
	})
}

func TestTimeoutCancelsTheCallContext(t *testing.T) {
	m := newMetrics(t)
	to := newTimeout(t, 20*time.Millisecond, resilience.WithMeterProvider(m.provider))
	start := time.Now()
	err := call(to.Middleware()(blocking(func(e error) error { return e })))
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("returned before the limit")
	}
	var te *resilience.TimeoutError
	if !errors.As(err, &te) || te.Limit != 20*time.Millisecond {
		t.Fatalf("err = %v, want *TimeoutError with the limit", err)
	}
	if !errors.Is(err, resilience.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v does not match ErrTimeout and context.DeadlineExceeded", err)
	}
	if bulwark.ClassOf(err) != bulwark.ClassRetryable {
		t.Fatalf("class = %v, want retryable", bulwark.ClassOf(err))
	}
	if v, _ := m.value(t, resilience.MetricTimeouts); v != 1 {
		t.Fatalf("timeouts = %v, want 1", v)
	}
}

func TestTimeoutKeepsTheCallsClass(t *testing.T) {
	to := newTimeout(t, 10*time.Millisecond)
	err := call(to.Middleware()(blocking(func(e error) error { return bulwark.Permanent(e) })))
	if !errors.Is(err, resilience.ErrTimeout) || bulwark.ClassOf(err) != bulwark.ClassPermanent {
		t.Fatalf("err = %v class %v, want a permanent timeout", err, bulwark.ClassOf(err))
	}
}

func TestTimeoutLeavesFastCallsAlone(t *testing.T) {
	to := newTimeout(t, time.Minute)
	if err := call(to.Middleware()(&counted{})); err != nil {
		t.Fatal(err)
	}
	if err := call(to.Middleware()(failing(errDown))); err != errDown {
		t.Fatalf("err = %v, want the call's error unchanged", err)
	}
	var deadline time.Time
	_ = call(to.Middleware()(bulwark.HandlerFunc(func(ctx context.Context, _ *bulwark.Message) error {
		deadline, _ = ctx.Deadline()
		return nil
	})))
	if until := time.Until(deadline); until < 50*time.Second {
		t.Fatalf("call context deadline in %s, want about a minute", until)
	}
}

func TestTimeoutLateSuccessIsASuccess(t *testing.T) {
	to := newTimeout(t, 5*time.Millisecond)
	err := call(to.Middleware()(blocking(func(error) error { return nil })))
	if err != nil {
		t.Fatalf("err = %v: a call that did its work is not failed", err)
	}
}

func TestTimeoutCallerCancellationIsNotATimeout(t *testing.T) {
	to := newTimeout(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	err := to.Middleware()(blocking(func(e error) error { return e })).Handle(ctx, &bulwark.Message{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, resilience.ErrTimeout) {
		t.Fatalf("err = %v, want the caller's context.Canceled", err)
	}
}

func TestTimeoutInvalid(t *testing.T) {
	if _, err := resilience.NewTimeout(0); !errors.Is(err, resilience.ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
}
