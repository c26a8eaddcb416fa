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
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	flags := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	brokersFlag := flags.String("brokers", os.Getenv("KAFKA_BROKERS"), "comma-separated broker addresses (default: an embedded cluster)")
	topic := flags.String("topic", "quickstart", "topic to use (created on the embedded cluster)")
	count := flags.Int("records", 1000, "records to send")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *count < 1 {
		return fmt.Errorf("-records %d: want at least 1", *count)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var brokers []string
	if *brokersFlag == "" {
		// With its dead-letter topic, which the consumer checks for at start.
		cluster, err := kafkatest.Start(kafkatest.WithTopic(*topic, 3), kafkatest.WithTopic(consumer.DefaultDeadLetterTopic(*topic), 3))
		if err != nil {
			return err
		}
		defer cluster.Close()
		brokers = cluster.Brokers()
		fmt.Fprintln(out, "embedded cluster at", strings.Join(brokers, ","))
	} else {
		brokers = strings.Split(*brokersFlag, ",")
	}

	p, err := producer.New(brokers, producer.WithLogger(logger))
	if err != nil {
		return err
	}
	defer p.Close()

	// A run header tells this run's records from older ones on a reused
	// topic of a real cluster.
	runID := fmt.Sprintf("%d", time.Now().UnixNano())
	start := time.Now()
	var failed atomic.Int64
	for i := 0; i < *count; i++ {
		msg := &bulwark.Message{
			Topic:   *topic,
			Key:     []byte(fmt.Sprintf("customer-%d", i%10)),
			Value:   []byte(fmt.Sprintf("order %d", i)),
			Headers: []bulwark.Header{{Key: "quickstart-run", Value: []byte(runID)}},
		}
		p.SendAsync(ctx, msg, func(_ producer.Result, err error) {
			if err != nil {
				failed.Add(1)
				logger.Error("send failed", "error", err)
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d records were not delivered", n, *count)
	}
	fmt.Fprintf(out, "sent %d records in %v\n", *count, time.Since(start).Round(time.Millisecond))

	// At least once: a record may come twice, so count each one once.
	var mu sync.Mutex
	seen := make(map[string]bool, *count)
	done := make(chan struct{})
	handler := bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
		if run, _ := m.Header("quickstart-run"); string(run) != runID {
			return nil // an earlier run's record
		}
		mu.Lock()
		defer mu.Unlock()
		if !seen[string(m.Value)] {
			seen[string(m.Value)] = true
			if len(seen) == *count {
				close(done)
			}
		}
		return nil
	})
	group := "quickstart-" + runID
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
	mu.Lock()
	n := len(seen)
	mu.Unlock()
	fmt.Fprintf(out, "consumed %d records (at least once; offsets committed) in %v\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}
