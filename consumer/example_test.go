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

// A rebalance listener and the readiness signal, as a service's health
// check would use them.
func ExampleWithRebalanceListener() {
	cluster, err := kafkatest.Start(kafkatest.WithTopic("payments", 1))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	listener := bulwark.RebalanceFuncs{
		OnAssigned: func(_ context.Context, ps []bulwark.TopicPartition) { fmt.Println("assigned", ps) },
		OnRevoked:  func(_ context.Context, ps []bulwark.TopicPartition) { fmt.Println("revoked", ps) },
		OnLost:     func(_ context.Context, ps []bulwark.TopicPartition) { fmt.Println("lost", ps) },
	}
	noop := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { return nil })
	c, err := consumer.New(cluster.Brokers(), "payments", []string{"payments"}, noop,
		consumer.WithRebalanceListener(listener),
		consumer.WithSessionTimeout(6*time.Second), consumer.WithHeartbeatInterval(time.Second))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-c.Ready() // a startup probe: joined, and caught up with the backlog
	fmt.Printf("%+v\n", c.State())
	cancel()
	if err := <-done; err != nil {
		panic(err)
	}
	// Output:
	// assigned [{payments 0}]
	// {Joined:true Partitions:1 CaughtUpPartitions:1 CaughtUp:true}
	// revoked [{payments 0}]
}

// Replaying a stopped group from a point in time.
func ExampleResetOffsets() {
	cluster, err := kafkatest.Start(kafkatest.WithTopic("events", 1))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...))
	if err != nil {
		panic(err)
	}
	start := time.Now()
	for i := range 4 {
		r := &kgo.Record{Topic: "events", Value: fmt.Appendf(nil, "event-%d", i), Timestamp: start.Add(time.Duration(i) * time.Minute)}
		if err := producer.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			panic(err)
		}
	}
	producer.Close()

	// The group has no members (stopped): move it to the third event.
	offsets, err := consumer.ResetOffsets(context.Background(), cluster.Brokers(), "replayer", "events",
		consumer.ToTimestamp(start.Add(2*time.Minute)))
	if err != nil {
		panic(err)
	}
	fmt.Println(offsets)
	// Output:
	// map[0:2]
}
