package consumertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer"
)

func TestRetriesThenDeadLettersWithRecordedWaits(t *testing.T) {
	calls := 0
	h, err := New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		calls++
		return errors.New("down")
	}), WithRetry(3, 10*time.Millisecond, 15*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	res := h.Deliver(context.Background(), &bulwark.Message{Topic: "t", Offset: 7, Value: []byte("x")})
	if res.Outcome != DeadLettered || res.Attempts != 3 || calls != 3 || len(res.Waits) != 2 {
		t.Fatalf("result %+v, calls %d", res, calls)
	}
	if res.Waits[0] < 5*time.Millisecond || res.Waits[1] > 15*time.Millisecond {
		t.Fatalf("waits %v outside the backoff", res.Waits)
	}
	if got := h.Committed()[Partition{"t", 0}]; got != 8 {
		t.Fatalf("committed %d, want 8", got)
	}
}

func TestPauseRetriesWithoutDeadLetter(t *testing.T) {
	calls := 0
	h, _ := New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		calls++
		if calls < 3 {
			return bulwark.Pause(errors.New("breaker open"), 0)
		}
		return nil
	}), WithPauseDelay(time.Second))
	res := h.Deliver(context.Background(), &bulwark.Message{Topic: "t"})
	if res.Outcome != Handled || !res.Paused || len(res.Waits) != 2 || res.Waits[0] != time.Second {
		t.Fatalf("result %+v", res)
	}
	if len(h.DeadLetters()) != 0 {
		t.Fatal("pause class dead-lettered")
	}
}

func TestFailedDeadLetterIsNotCommitted(t *testing.T) {
	h, _ := New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		return bulwark.Permanentf("bad")
	}), WithDeadLetterError(func(*bulwark.Message) error { return errors.New("dlt down") }))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res := h.Deliver(ctx, &bulwark.Message{Topic: "t", Offset: 3})
	if res.Outcome != Abandoned {
		t.Fatalf("outcome %v", res.Outcome)
	}
	if got := h.Committed()[Partition{"t", 0}]; got != 3 {
		t.Fatalf("committed %d, want 3", got)
	}
}

func TestMiddlewareRuns(t *testing.T) {
	var order []string
	mw := func(name string) bulwark.Middleware {
		return func(next bulwark.Handler) bulwark.Handler {
			return bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
				order = append(order, name)
				return next.Handle(ctx, m)
			})
		}
	}
	h, _ := New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { return nil }), WithMiddleware(mw("a"), mw("b")))
	h.Deliver(context.Background(), &bulwark.Message{})
	if len(order) != 2 || order[0] != "a" {
		t.Fatalf("order %v", order)
	}
	if _, err := New(nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil handler: %v", err)
	}
}

// A long breaker outage: each time the breaker half-opens, two probes fail
// with retryable errors, then it opens again (pause class). The probes
// never add up to the retry limit, because a pause starts the record's
// attempts afresh, so the record is handled once the outage ends.
func TestPausesDoNotUseUpRetryAttempts(t *testing.T) {
	calls := 0
	h, err := New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		calls++
		switch {
		case calls > 30:
			return nil
		case calls%3 == 0:
			return bulwark.Pause(errors.New("breaker open"), time.Minute)
		default:
			return errors.New("probe failed")
		}
	}), WithRetry(3, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	res := h.Deliver(context.Background(), &bulwark.Message{Topic: "t", Offset: 3})
	if res.Outcome != Handled || res.Attempts != 31 || !res.Paused {
		t.Fatalf("result %+v, want handled after 31 attempts", res)
	}
	if len(h.DeadLetters()) != 0 {
		t.Fatalf("dead-lettered during an outage: %v", h.DeadLetters())
	}
	if got := h.Committed()[Partition{"t", 0}]; got != 4 {
		t.Fatalf("committed %d, want 4", got)
	}

	// Three retryable failures in a row after a pause still dead-letter.
	calls = 0
	h, _ = New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		calls++
		if calls == 2 {
			return bulwark.Pause(errors.New("breaker open"), time.Minute)
		}
		return errors.New("down")
	}), WithRetry(3, time.Millisecond, time.Millisecond))
	res = h.Deliver(context.Background(), &bulwark.Message{Topic: "t", Offset: 3})
	if res.Outcome != DeadLettered || res.Attempts != 5 {
		t.Fatalf("result %+v, want dead-lettered after 5 attempts", res)
	}
}

func TestDeliverBatchCommitsAroundDeadLetter(t *testing.T) {
	h, err := NewBatch(consumer.BatchHandlerFunc(func(_ context.Context, batch []*bulwark.Message) error {
		for i, m := range batch {
			if string(m.Value) == "bad" {
				return &consumer.BatchError{Index: i, Err: bulwark.Permanentf("cannot parse %q", m.Value)}
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*bulwark.Message
	for i, v := range []string{"a", "b", "bad", "c"} {
		msgs = append(msgs, &bulwark.Message{Topic: "t", Offset: int64(10 + i), Value: []byte(v)})
	}
	res := h.DeliverBatch(context.Background(), msgs)
	want := []Outcome{Handled, Handled, DeadLettered, Handled}
	for i := range want {
		if res[i].Outcome != want[i] {
			t.Fatalf("record %d: %v, want %v", i, res[i].Outcome, want[i])
		}
	}
	if got := h.Committed()[Partition{"t", 0}]; got != 14 {
		t.Fatalf("committed %d, want 14", got)
	}
	if dl := h.DeadLetters(); len(dl) != 1 || string(dl[0].Value) != "bad" {
		t.Fatalf("dead letters %v", dl)
	}
	if _, err := NewBatch(nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil batch handler: %v", err)
	}
}
