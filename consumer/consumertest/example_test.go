package consumertest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer/consumertest"
	"github.com/bulwarkgo/bulwark/resilience"
)

func Example() {
	handler := bulwark.HandlerFunc(func(_ context.Context, msg *bulwark.Message) error {
		switch string(msg.Value) {
		case "bad":
			return bulwark.Permanentf("cannot parse %q", msg.Value)
		case "flaky":
			if msg.Attempt < 3 {
				return errors.New("timeout")
			}
		}
		return nil
	})
	h, err := consumertest.New(handler)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i, v := range []string{"ok", "flaky", "bad", "ok"} {
		res := h.Deliver(ctx, &bulwark.Message{Topic: "orders", Offset: int64(i), Value: []byte(v)})
		fmt.Printf("%s: %s after %d attempts\n", v, res.Outcome, res.Attempts)
	}
	dl := h.DeadLetters()[0]
	class, _ := dl.Header(bulwark.HeaderDLTErrorClass)
	fmt.Println("dead letter:", dl.Topic, string(dl.Value), string(class))
	fmt.Println("committed:", h.Committed()[consumertest.Partition{Topic: "orders"}])
	// Output:
	// ok: handled after 1 attempts
	// flaky: handled after 3 attempts
	// bad: dead-lettered after 1 attempts
	// ok: handled after 1 attempts
	// dead letter: orders.dlt bad permanent
	// committed: 4
}

// One auto-advancing clock drives the harness's waits and a breaker's open
// delay: an outage of two virtual minutes runs in microseconds, the record
// waits through it paused (never dead-lettered) and is handled when the
// downstream is back.
func ExampleWithClock() {
	clock := consumertest.NewAutoClock(time.Time{})
	start := clock.Now()
	breaker, err := resilience.NewBreaker(resilience.WithConsecutiveFailures(3),
		resilience.WithOpenDelay(30*time.Second), resilience.WithClock(clock))
	if err != nil {
		panic(err)
	}
	defer breaker.Close()
	downstream := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		if clock.Now().Sub(start) < 2*time.Minute {
			return errors.New("payments API: 503")
		}
		return nil
	})
	h, err := consumertest.New(downstream, consumertest.WithClock(clock),
		consumertest.WithMiddleware(breaker.Middleware()))
	if err != nil {
		panic(err)
	}
	res := h.Deliver(context.Background(), &bulwark.Message{Topic: "orders"})
	fmt.Println(res.Outcome, "after pausing:", res.Paused)
	fmt.Println("dead letters:", len(h.DeadLetters()))
	fmt.Println("virtual time past the outage:", clock.Now().Sub(start) >= 2*time.Minute)
	// Output:
	// handled after pausing: true
	// dead letters: 0
	// virtual time past the outage: true
}
