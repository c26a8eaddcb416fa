package table_test

import (
	"context"
	"fmt"
	"log"
	"time"

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
