package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/resilience"
)

func Example() {
	// One breaker guards the payments API for every caller.
	breaker, err := resilience.NewBreaker(resilience.WithName("payments"),
		resilience.WithConsecutiveFailures(2), resilience.WithOpenDelay(time.Minute))
	if err != nil {
		panic(err)
	}
	defer breaker.Close()
	retry, _ := resilience.NewRetry(resilience.WithMaxAttempts(3),
		resilience.WithBackoff(time.Millisecond, 10*time.Millisecond, 2))
	timeout, _ := resilience.NewTimeout(2 * time.Second)

	calls := 0
	charge := func(ctx context.Context) error {
		calls++
		return errors.New("503 service unavailable")
	}

	// Around a record handler: the consumer sees the pause class while the
	// breaker is open and pauses the partition.
	handler := resilience.Chain(retry, breaker, timeout)(bulwark.HandlerFunc(
		func(ctx context.Context, msg *bulwark.Message) error { return charge(ctx) }))
	// The second attempt opens the breaker, so the third is not made.
	err = handler.Handle(context.Background(), &bulwark.Message{Topic: "orders"})
	fmt.Println("first record:", bulwark.ClassOf(err), err, "after", calls, "calls")

	err = handler.Handle(context.Background(), &bulwark.Message{Topic: "orders"})
	delay, pause := bulwark.PauseDelay(err)
	fmt.Println("second record:", errors.Is(err, resilience.ErrBreakerOpen), pause, delay > 59*time.Second)

	// Around a plain function, with the same breaker.
	err = resilience.Do(context.Background(), charge, breaker)
	fmt.Println("direct call:", errors.Is(err, resilience.ErrBreakerOpen), "calls", calls)
	// Output:
	// first record: pause resilience: circuit breaker open: payments after 2 calls
	// second record: true true true
	// direct call: true calls 2
}
