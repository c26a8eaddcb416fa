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

// publishOrder takes a Sender, so it sends through a producer, inside a
// transaction, or through producertest's fake in its unit tests.
func publishOrder(ctx context.Context, s producer.Sender, id string) (producer.Result, error) {
	return s.Send(ctx, &bulwark.Message{Topic: "orders", Key: []byte(id), Value: []byte(`{"id":"` + id + `"}`)})
}

// settle writes an order and its payment atomically, through any
// TransactionalSender.
func settle(ctx context.Context, t producer.TransactionalSender, id string) error {
	return t.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		if _, err := publishOrder(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.Send(ctx, &bulwark.Message{Topic: "payments", Key: []byte(id), Value: []byte(`{"paid":true}`)})
		return err
	})
}

func ExampleSender() {
	cluster, err := kafkatest.Start(kafkatest.WithBrokers(1), kafkatest.WithTopic("orders", 1), kafkatest.WithTopic("payments", 1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	p, err := producer.New(cluster.Brokers())
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	res, err := publishOrder(ctx, p, "order-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("order-1 -> %s/%d@%d\n", res.Topic, res.Partition, res.Offset)

	tp, err := producer.NewTransactional(cluster.Brokers(), "settlement")
	if err != nil {
		log.Fatal(err)
	}
	defer tp.Close()
	if err := settle(ctx, tp, "order-2"); err != nil {
		log.Fatal(err)
	}
	orders, err := cluster.ReadTopic(ctx, "orders", kafkatest.ReadCommitted())
	if err != nil {
		log.Fatal(err)
	}
	payments, err := cluster.ReadTopic(ctx, "payments", kafkatest.ReadCommitted())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("committed: %d orders, %d payments\n", len(orders), len(payments))
	// Output:
	// order-1 -> orders/0@0
	// committed: 2 orders, 1 payments
}
