package bulwark_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/bulwarkgo/bulwark"
)

// A handler that rejects records it can never process (permanent: straight
// to the dead-letter topic) and lets everything else be retried.
func Example() {
	logging := func(next bulwark.Handler) bulwark.Handler {
		return bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
			err := next.Handle(ctx, m)
			if err == nil {
				fmt.Printf("%s@%d: done\n", m.Topic, m.Offset)
			} else {
				fmt.Printf("%s@%d: %v (class %s)\n", m.Topic, m.Offset, err, bulwark.ClassOf(err))
			}
			return err
		})
	}
	handler := bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
		qty, err := strconv.Atoi(string(m.Value))
		if err != nil {
			return bulwark.Permanentf("quantity %q is not a number", m.Value)
		}
		if qty > 10 {
			return errors.New("warehouse busy")
		}
		return nil
	})
	h := bulwark.Chain(logging)(handler)

	ctx := context.Background()
	_ = h.Handle(ctx, &bulwark.Message{Topic: "orders", Offset: 1, Value: []byte("3")})
	_ = h.Handle(ctx, &bulwark.Message{Topic: "orders", Offset: 2, Value: []byte("x")})
	_ = h.Handle(ctx, &bulwark.Message{Topic: "orders", Offset: 3, Value: []byte("12")})
	// Output:
	// orders@1: done
	// orders@2: quantity "x" is not a number (class permanent)
	// orders@3: warehouse busy (class retryable)
}
