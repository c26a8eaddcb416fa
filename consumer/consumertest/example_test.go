package consumertest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer/consumertest"
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
