package consumer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

func Example() {
	cluster, err := kafkatest.Start(kafkatest.WithTopic("orders", 1), kafkatest.WithTopic("orders.dlt", 1))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	// Some input, written with franz-go.
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...))
	if err != nil {
		panic(err)
	}
	for _, v := range []string{"apple", "bad", "cherry"} {
		if err := producer.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Value: []byte(v)}).FirstErr(); err != nil {
			panic(err)
		}
	}
	producer.Close()

	ctx, cancel := context.WithCancel(context.Background())
	seen := 0
	handler := bulwark.HandlerFunc(func(_ context.Context, msg *bulwark.Message) error {
		fmt.Printf("offset %d: %s\n", msg.Offset, msg.Value)
		if seen++; seen == 3 {
			cancel() // stop after the third record: Run commits and returns
		}
		if string(msg.Value) == "bad" {
			return bulwark.Permanentf("cannot parse %q", msg.Value) // to orders.dlt
		}
		return nil
	})
	c, err := consumer.New(cluster.Brokers(), "example", []string{"orders"}, handler,
		consumer.WithConnection(cluster.ConnOptions()...),
		consumer.WithSessionTimeout(6*time.Second), consumer.WithHeartbeatInterval(time.Second))
	if err != nil {
		panic(err)
	}
	if err := c.Run(ctx); err != nil {
		panic(err)
	}
	st := c.Stats()
	fmt.Println("handled", st.Handled, "dead-lettered", st.DeadLettered)
	// Output:
	// offset 0: apple
	// offset 1: bad
	// offset 2: cherry
	// handled 2 dead-lettered 1
}

func ExampleNewBatch() {
	cluster, err := kafkatest.Start(kafkatest.WithTopic("clicks", 1))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...))
	if err != nil {
		panic(err)
	}
	for i := range 10 {
		if err := producer.ProduceSync(context.Background(), &kgo.Record{Topic: "clicks", Value: fmt.Appendf(nil, "click-%d", i)}).FirstErr(); err != nil {
			panic(err)
		}
	}
	producer.Close()

	ctx, cancel := context.WithCancel(context.Background())
	stored := 0
	handler := consumer.BatchHandlerFunc(func(_ context.Context, batch []*bulwark.Message) error {
		// e.g. one multi-row INSERT per batch
		stored += len(batch)
		if stored == 10 {
			cancel()
		}
		return nil
	})
	c, err := consumer.NewBatch(cluster.Brokers(), "clicks-to-db", []string{"clicks"}, handler,
		consumer.WithBatchSize(500, 50*time.Millisecond),
		consumer.WithSessionTimeout(6*time.Second), consumer.WithHeartbeatInterval(time.Second))
	if err != nil {
		panic(err)
	}
	if err := c.Run(ctx); err != nil {
		panic(err)
	}
	fmt.Println("stored", stored, "handled", c.Stats().Handled)
	// Output:
	// stored 10 handled 10
}
