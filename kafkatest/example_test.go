package kafkatest_test

import (
	"context"
	"fmt"

	"github.com/bulwarkgo/bulwark/kafkatest"
)

// Start an embedded cluster from a program (no testing.T needed) and
// create a topic on it.
func Example() {
	c, err := kafkatest.Start(kafkatest.WithBrokers(1), kafkatest.WithTopic("orders", 6))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	ctx := context.Background()
	if err := c.CreateTopic(ctx, "orders.dlt", 1, nil); err != nil {
		panic(err)
	}
	for _, topic := range []string{"orders", "orders.dlt"} {
		n, _ := c.Partitions(ctx, topic)
		fmt.Println(topic, n)
	}
	// Output:
	// orders 6
	// orders.dlt 1
}
