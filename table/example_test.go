package table_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/bulwarkgo/bulwark/table"
)

func Example() {
	cluster, err := kafkatest.Start(kafkatest.WithBrokers(1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cluster.CreateTopic(ctx, "stock", 3, map[string]string{"cleanup.policy": "compact"}); err != nil {
		log.Fatal(err)
	}

	p, err := producer.New(cluster.Brokers())
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	w, err := table.NewWriter(p, "stock")
	if err != nil {
		log.Fatal(err)
	}
	for _, u := range [][2]string{{"apple", "3"}, {"pear", "5"}, {"apple", "2"}, {"plum", "1"}} {
		if _, err := w.Put(ctx, []byte(u[0]), []byte(u[1])); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := w.Delete(ctx, []byte("plum")); err != nil {
		log.Fatal(err)
	}

	stock, err := table.Open(ctx, cluster.Brokers(), "stock")
	if err != nil {
		log.Fatal(err)
	}
	defer stock.Close()
	if err := stock.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}
	for _, sku := range []string{"apple", "pear", "plum"} {
		v, ok := stock.Get([]byte(sku))
		fmt.Printf("%s: %q %v\n", sku, v, ok)
	}
	pr := stock.Progress()
	fmt.Printf("%d keys from %d records, %d/%d partitions restored\n", pr.Keys, pr.Records, pr.Restored, len(pr.Partitions))
	// Output:
	// apple: "2" true
	// pear: "5" true
	// plum: "" false
	// 2 keys from 5 records, 3/3 partitions restored
}

// A consumer whose handler reads the state of its record's key from a
// co-partitioned table: each member of the group restores only the state
// partitions of the input partitions it is assigned.
func ExampleNewPartitioned() {
	cluster, err := kafkatest.Start(kafkatest.WithTopic("orders", 2), kafkatest.WithTopic("orders.dlt", 2))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The state topic has as many partitions as the input, and both are
	// written with the same keyed partitioning.
	if err := cluster.CreateTopic(ctx, "stock", 2, map[string]string{"cleanup.policy": "compact"}); err != nil {
		log.Fatal(err)
	}
	p, err := producer.New(cluster.Brokers())
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	skus := []string{"apple", "pear", "plum"}
	for i, sku := range skus {
		for _, m := range []*bulwark.Message{
			table.Update("stock", []byte(sku), fmt.Appendf(nil, "%d", i+1)),
			{Topic: "orders", Key: []byte(sku), Value: []byte("order")},
		} {
			if _, err := p.Send(ctx, m); err != nil {
				log.Fatal(err)
			}
		}
	}

	stock, err := table.NewPartitioned(cluster.Brokers(), "stock")
	if err != nil {
		log.Fatal(err)
	}
	defer stock.Close()
	runCtx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	found := map[string]string{}
	handler := bulwark.HandlerFunc(func(_ context.Context, msg *bulwark.Message) error {
		v, ok, err := stock.Get(msg.Partition, msg.Key)
		if err != nil {
			return err // ErrNotReady: the partition pauses until its state is restored
		}
		mu.Lock()
		defer mu.Unlock()
		found[string(msg.Key)] = fmt.Sprintf("%s %v", v, ok)
		if len(found) == len(skus) {
			stop()
		}
		return nil
	})
	c, err := consumer.New(cluster.Brokers(), "shipping", []string{"orders"}, handler,
		consumer.WithRebalanceListener(stock),
		consumer.WithSessionTimeout(6*time.Second), consumer.WithHeartbeatInterval(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Run(runCtx); err != nil {
		log.Fatal(err)
	}
	for _, sku := range skus {
		fmt.Println(sku, found[sku])
	}
	fmt.Println("state partitions held after Run:", stock.Partitions())
	// Output:
	// apple 1 true
	// pear 2 true
	// plum 3 true
	// state partitions held after Run: []
}
