package producer_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
)

func Example() {
	cluster, err := kafkatest.Start(kafkatest.WithBrokers(1), kafkatest.WithTopic("orders", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	p, err := producer.New(cluster.Brokers())
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range []string{"order-1", "order-2"} {
		res, err := p.Send(ctx, &bulwark.Message{Topic: "orders", Key: []byte(id), Value: []byte(`{"total":42}`)})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s -> %s/%d@%d\n", id, res.Topic, res.Partition, res.Offset)
	}
	// Output:
	// order-1 -> orders/0@0
	// order-2 -> orders/0@1
}

func ExampleTransactionalProducer_InTransaction() {
	cluster, err := kafkatest.Start(kafkatest.WithBrokers(1), kafkatest.WithTopic("payments", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	p, err := producer.NewTransactional(cluster.Brokers(), "payments-writer")
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		for _, v := range []string{"debit", "credit"} {
			if _, err := tx.Send(ctx, &bulwark.Message{Topic: "payments", Value: []byte(v)}); err != nil {
				return err // aborts the transaction
			}
		}
		return nil // commits it
	})
	fmt.Println("committed:", err == nil)

	recs, err := cluster.ReadTopic(ctx, "payments", kafkatest.ReadCommitted())
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Println(string(r.Value))
	}
	// Output:
	// committed: true
	// debit
	// credit
}
