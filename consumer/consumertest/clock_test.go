package consumertest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/consumer/consumertest"
)

var errDown = errors.New("dependency down")

// A handler that pauses forever used to make Deliver spin until its
// context ended (1.5M attempts in 2 s). Now the delivery ends at the
// attempt limit, each wait is the delay the error asked for, and the
// virtual clock moved by exactly their sum.
func TestPersistentPauseEndsAtTheAttemptLimit(t *testing.T) {
	const limit = 40
	calls := 0
	clock := consumertest.NewAutoClock(time.Time{})
	start := clock.Now()
	h, err := consumertest.New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		calls++
		return bulwark.Pause(errDown, time.Duration(calls)*100*time.Millisecond) // a growing delay
	}), consumertest.WithClock(clock), consumertest.WithAttemptLimit(limit))
	if err != nil {
		t.Fatal(err)
	}
	// No deadline: the limit alone must end the delivery.
	res := h.Deliver(context.Background(), &bulwark.Message{Topic: "t", Offset: 4})
	if res.Outcome != consumertest.Abandoned || !res.Limited || !res.Paused || res.Attempts != limit || calls != limit {
		t.Fatalf("result %+v after %d calls, want abandoned at the limit of %d", res, calls, limit)
	}
	if !errors.Is(res.Err, errDown) {
		t.Fatalf("Err %v, want the handler's last error", res.Err)
	}
	var want []time.Duration
	var total time.Duration
	for i := 1; i < limit; i++ {
		want = append(want, time.Duration(i)*100*time.Millisecond)
		total += want[len(want)-1]
	}
	if !slices.Equal(res.Waits, want) {
		t.Fatalf("waits %v, want %v", res.Waits, want)
	}
	if got := clock.Now().Sub(start); got != total {
		t.Fatalf("virtual time moved %v, want the waits' sum %v", got, total)
	}
	if got := h.Committed()[consumertest.Partition{Topic: "t"}]; got != 4 {
		t.Fatalf("committed %d, want 4: a paused record is not finished", got)
	}
	if len(h.DeadLetters()) != 0 {
		t.Fatal("a paused record was dead-lettered")
	}
}

func TestDefaultAttemptLimitWithConsumerPauseDelay(t *testing.T) {
	h, err := consumertest.New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		return bulwark.Pause(errDown, 0)
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := h.Deliver(ctx, &bulwark.Message{Topic: "t"})
	if ctx.Err() != nil {
		t.Fatal("the delivery ran until its context ended")
	}
	if !res.Limited || res.Attempts != consumertest.DefaultAttemptLimit || len(res.Waits) != consumertest.DefaultAttemptLimit-1 {
		t.Fatalf("limited %v, attempts %d, %d waits; want %d attempts", res.Limited, res.Attempts, len(res.Waits), consumertest.DefaultAttemptLimit)
	}
	for _, w := range res.Waits {
		if w != consumer.DefaultPauseDelay {
			t.Fatalf("wait %v, want the consumer's pause delay %v", w, consumer.DefaultPauseDelay)
		}
	}
}

func TestFailingDeadLetterEndsAtTheAttemptLimit(t *testing.T) {
	writes := 0
	h, _ := consumertest.New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		return bulwark.Permanentf("bad record")
	}), consumertest.WithAttemptLimit(5), consumertest.WithDeadLetterError(func(*bulwark.Message) error {
		writes++
		return errors.New("dead-letter topic down")
	}))
	res := h.Deliver(context.Background(), &bulwark.Message{Topic: "t", Offset: 9})
	if res.Outcome != consumertest.Abandoned || !res.Limited || writes != 5 || len(res.Waits) != 4 {
		t.Fatalf("result %+v after %d dead-letter writes, want abandoned after 5", res, writes)
	}
	if got := h.Committed()[consumertest.Partition{Topic: "t"}]; got != 9 {
		t.Fatalf("committed %d, want 9", got)
	}
}

// With a manual fake clock each wait blocks until the test advances the
// clock to its end, and not a moment before.
func TestFakeClockHoldsEachWaitUntilAdvanced(t *testing.T) {
	const delay = 2 * time.Second
	clock := consumertest.NewFakeClock(time.Time{})
	calls := make(chan struct{}, 10)
	h, _ := consumertest.New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		calls <- struct{}{}
		if len(calls) < 3 {
			return bulwark.Pause(errDown, delay)
		}
		return nil
	}), consumertest.WithClock(clock))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan consumertest.Result, 1)
	go func() { done <- h.Deliver(ctx, &bulwark.Message{Topic: "t"}) }()

	for pause := 1; pause <= 2; pause++ {
		if err := clock.WaitForSleepers(ctx, 1); err != nil {
			t.Fatalf("pause %d: %v", pause, err)
		}
		if got := len(calls); got != pause {
			t.Fatalf("pause %d: %d handler calls, want %d", pause, got, pause)
		}
		clock.Advance(delay - time.Nanosecond)
		if clock.Sleepers() != 1 {
			t.Fatalf("pause %d: the wait ended before its delay", pause)
		}
		clock.Advance(time.Nanosecond)
	}
	var res consumertest.Result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("Deliver did not return after the clock was advanced")
	}
	if res.Outcome != consumertest.Handled || res.Attempts != 3 || !slices.Equal(res.Waits, []time.Duration{delay, delay}) {
		t.Fatalf("result %+v", res)
	}
}

func TestFakeClockSleepEndsWithItsContext(t *testing.T) {
	clock := consumertest.NewFakeClock(time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- clock.Sleep(ctx, time.Hour) }()
	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := clock.WaitForSleepers(wait, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep returned %v, want context.Canceled", err)
	}
	if clock.Sleepers() != 0 {
		t.Fatal("a cancelled sleep still counts as a sleeper")
	}
}

func TestInvalidClockOptions(t *testing.T) {
	h := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { return nil })
	for name, opt := range map[string]consumertest.Option{
		"nil clock":  consumertest.WithClock(nil),
		"zero limit": consumertest.WithAttemptLimit(0),
	} {
		if _, err := consumertest.New(h, opt); !errors.Is(err, consumertest.ErrInvalidConfig) {
			t.Errorf("%s: error %v, want ErrInvalidConfig", name, err)
		}
	}
}
