package dedup_test

import (
	"context"
	"fmt"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/dedup"
)

// A record delivered three times is handled once; the repeats are
// duplicates and count as finished.
func Example() {
	store, err := dedup.NewMemory(dedup.WithMaxEntries(100_000))
	if err != nil {
		panic(err)
	}
	d, err := dedup.New(store)
	if err != nil {
		panic(err)
	}
	handler := d.Wrap(bulwark.HandlerFunc(func(_ context.Context, m *bulwark.Message) error {
		fmt.Printf("charging card for %s\n", m.Key)
		return nil
	}))

	m := &bulwark.Message{Topic: "payments", Key: []byte("order-42")}
	m.SetHeader(bulwark.HeaderMessageID, []byte("6f1c2a"))
	for range 3 {
		fmt.Println("delivery:", handler.Handle(context.Background(), m))
	}

	// A record from a producer that sets no message ID is keyed by its
	// position (dedup.OffsetKey): a redelivery of the same offset is a
	// duplicate too.
	noID := &bulwark.Message{Topic: "payments", Partition: 2, Offset: 1042, Key: []byte("order-43")}
	for range 2 {
		fmt.Println("delivery:", handler.Handle(context.Background(), noID))
	}
	fmt.Println("its key:", dedup.OffsetKey(noID))
	// Output:
	// charging card for order-42
	// delivery: <nil>
	// delivery: <nil>
	// delivery: <nil>
	// charging card for order-43
	// delivery: <nil>
	// delivery: <nil>
	// its key: offset:payments/2/1042
}
