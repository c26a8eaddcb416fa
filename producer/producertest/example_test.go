package producertest_test

import (
	"context"
	"fmt"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/bulwarkgo/bulwark/producer/producertest"
)

// publishOrder is the code under test: it takes a producer.Sender, which
// both *producer.Producer and *producertest.Producer satisfy.
func publishOrder(ctx context.Context, p producer.Sender, id string) error {
	_, err := p.Send(ctx, &bulwark.Message{Topic: "orders", Key: []byte(id), Value: []byte(`{"id":"` + id + `"}`)})
	return err
}

func Example() {
	fake := producertest.New()
	if err := publishOrder(context.Background(), fake, "o-1"); err != nil {
		fmt.Println(err)
	}
	for _, m := range fake.Sent() {
		fmt.Printf("%s %s %s offset=%d\n", m.Topic, m.Key, m.Value, m.Offset)
	}

	fake.FailNext(1, bulwark.Permanent(fmt.Errorf("too large")))
	err := publishOrder(context.Background(), fake, "o-2")
	fmt.Println("second send failed:", err != nil, bulwark.ClassOf(err))
	// Output:
	// orders o-1 {"id":"o-1"} offset=0
	// second send failed: true permanent
}
