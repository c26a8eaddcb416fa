// Command quickstart sends a few keyed records with bulwark's idempotent
// producer and consumes them with an at-least-once consumer group, on the
// embedded cluster by default or on a real one:
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -brokers kafka-1:9092,kafka-2:9092
//	KAFKA_BROKERS=kafka-1:9092 go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	brokersFlag := flag.String("brokers", os.Getenv("KAFKA_BROKERS"), "comma-separated broker addresses (default: an embedded cluster)")
	topic := flag.String("topic", "quickstart", "topic to use (created on the embedded cluster)")
	count := flag.Int("records", 1000, "records to send")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var brokers []string
	if *brokersFlag == "" {
		cluster, err := kafkatest.Start(kafkatest.WithTopic(*topic, 3))
		if err != nil {
			return err
		}
		defer cluster.Close()
		brokers = cluster.Brokers()
		fmt.Println("embedded cluster at", strings.Join(brokers, ","))
	} else {
		brokers = strings.Split(*brokersFlag, ",")
	}

	p, err := producer.New(brokers, producer.WithLogger(logger))
	if err != nil {
		return err
	}
	defer p.Close()

	start := time.Now()
	for i := 0; i < *count; i++ {
		msg := &bulwark.Message{
			Topic: *topic,
			Key:   []byte(fmt.Sprintf("customer-%d", i%10)),
			Value: []byte(fmt.Sprintf("order %d", i)),
		}
		p.SendAsync(ctx, msg, func(_ producer.Result, err error) {
			if err != nil {
				logger.Error("send failed", "err", err)
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	fmt.Printf("sent %d records in %v\n", *count, time.Since(start).Round(time.Millisecond))

	var consumed atomic.Int64
	done := make(chan struct{})
	handler := bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
		if consumed.Add(1) == int64(*count) {
			close(done)
		}
		return nil
	})
	group := fmt.Sprintf("quickstart-%d", time.Now().UnixNano())
	c, err := consumer.New(brokers, group, []string{*topic}, handler, consumer.WithLogger(logger))
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(runCtx) }()
	select {
	case <-done:
	case err := <-errc:
		cancel()
		return fmt.Errorf("consumer stopped early: %w", err)
	case <-time.After(2 * time.Minute):
		cancel()
		<-errc
		return errors.New("timed out waiting for records")
	}
	cancel()
	if err := <-errc; err != nil {
		return err
	}
	fmt.Printf("consumed %d records (at least once; offsets committed) in %v\n", consumed.Load(), time.Since(start).Round(time.Millisecond))
	return nil
}
