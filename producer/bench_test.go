package producer_test

import (
	"context"
	"encoding/base64"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/cputime"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/google/uuid"
	"github.com/rcrowley/go-metrics"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	benchTopic      = "bench"
	benchPartitions = 6
	benchKeys       = 1024
)

// BenchmarkProduce compares this package's idempotent producer (SendAsync,
// on the produce engine) with a raw sarama AsyncProducer built from the
// same configuration (saramax.NewProducerConfig with the producer's
// default settings) and with franz-go's kgo (idempotent, acks from all
// in-sync replicas, no compression), in the same run, against
// an in-process cluster: keyed records of 100 B and 1 KiB. "sarama+id" is
// raw sarama sending a message-ID header like the one this package adds to
// every record. Each reports
// records/s and cpu-ns/record (the process's CPU time per record, the
// in-process cluster's included); allocations are per record. A fixed
// record count keeps the cluster's work per record the same across rounds.
//
// Each runs with linger 0 and 5 ms (the same setting in all three).
// Sub-benchmarks are named size=<value size>/linger=<linger>/impl=<producer>,
// so benchstat puts the implementations side by side, one row per size and
// linger:
//
//	go test -run '^$' -bench BenchmarkProduce -benchtime 100000x -count 6 ./producer | tee bench.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl bench.txt
//
// -col /impl compares each implementation with the first (bulwark). To
// keep only two columns:
//
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl -filter '/impl:(bulwark OR sarama)' bench.txt
func BenchmarkProduce(b *testing.B) {
	for _, size := range []int{100, 1024} {
		value := make([]byte, size)
		for i := range value {
			value[i] = byte('a' + i%26)
		}
		keys := make([][]byte, benchKeys)
		for i := range keys {
			keys[i] = []byte("key-" + strconv.Itoa(i))
		}
		for _, linger := range []time.Duration{0, 5 * time.Millisecond} {
			b.Run("size="+strconv.Itoa(size)+"B/linger="+linger.String(), func(b *testing.B) {
				b.Run("impl=bulwark", func(b *testing.B) { benchBulwark(b, keys, value, linger) })
				b.Run("impl=sarama", func(b *testing.B) { benchSarama(b, keys, value, linger, false) })
				b.Run("impl=sarama+id", func(b *testing.B) { benchSarama(b, keys, value, linger, true) })
				b.Run("impl=franz-go", func(b *testing.B) { benchFranz(b, keys, value, linger) })
			})
		}
	}
}

func benchCluster(b *testing.B) *kafkatest.Cluster {
	b.Helper()
	// A fresh cluster per round: kfake keeps every record in memory. Small
	// segments keep its in-memory log files small: it grows them by copying,
	// which would otherwise make its cost per record depend on b.N.
	c := kafkatest.NewCluster(b)
	if err := c.CreateTopic(context.Background(), benchTopic, benchPartitions,
		map[string]string{"segment.bytes": strconv.Itoa(1 << 20)}); err != nil {
		b.Fatal(err)
	}
	return c
}

// start is when a round's records started, on the wall clock and in
// process CPU time.
type start struct {
	wall time.Time
	cpu  int64
}

func startRound(b *testing.B) start {
	b.ReportAllocs()
	b.ResetTimer()
	return start{wall: time.Now(), cpu: cputime.Process().Nanoseconds()}
}

// reportRate reports records/s and cpu-ns/record: the process's CPU time
// (user and system, the in-process cluster's included, so compare the
// implementations side by side only) over the round, per record.
func reportRate(b *testing.B, s start) {
	b.ReportMetric(float64(b.N)/time.Since(s.wall).Seconds(), "records/s")
	b.ReportMetric(float64(cputime.Process().Nanoseconds()-s.cpu)/float64(b.N), "cpu-ns/record")
}

// metricRegistry and histogram are the parts of sarama's go-metrics
// registry reportBatching reads.
type (
	metricRegistry interface{ Get(name string) any }
	histogram      interface {
		Count() int64
		Mean() float64
	}
)

// reportBatching reports sarama's mean records per produce request: the
// batching the pipeline achieved, which a slow result path would shrink.
func reportBatching(b *testing.B, registry metricRegistry) {
	if h, ok := registry.Get("records-per-request").(histogram); ok && h.Count() > 0 {
		b.ReportMetric(h.Mean(), "records/req")
	}
}

func benchBulwark(b *testing.B, keys [][]byte, value []byte, linger time.Duration) {
	c := benchCluster(b)
	var registry metricRegistry
	p, err := producer.New(c.Brokers(), producer.WithLinger(linger), producer.WithSaramaConfig(func(cfg *sarama.Config) { cfg.MetricRegistry = metrics.NewRegistry(); registry = cfg.MetricRegistry }))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed sync.Once
	done := func(_ producer.Result, err error) {
		if err != nil {
			failed.Do(func() { b.Error(err) })
		}
		wg.Done()
	}
	wg.Add(b.N)
	start := startRound(b)
	for i := range b.N {
		p.SendAsync(ctx, &bulwark.Message{Topic: benchTopic, Key: keys[i%len(keys)], Value: value}, done)
	}
	wg.Wait()
	reportRate(b, start)
	b.StopTimer()
	reportBatching(b, registry)
}

// benchSaramaConfig is the configuration producer.New builds by default.
func benchSaramaConfig(b *testing.B, linger time.Duration) *sarama.Config {
	settings, err := conn.Build()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := saramax.NewProducerConfig(settings, saramax.ProducerSettings{
		RetryMax:       int(producer.DefaultDeliveryTimeout / producer.DefaultRetryBackoff),
		RetryBackoff:   producer.DefaultRetryBackoff,
		RequestTimeout: 10 * time.Second,
		Compression:    producer.DefaultCompression,
		Linger:         linger,
	})
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// benchSarama runs raw sarama; with withID each record also carries a
// message-ID header as this package adds, to tell the cost of the header's
// bytes on the wire and in the cluster from the cost of the wrapper.
func benchSarama(b *testing.B, keys [][]byte, value []byte, linger time.Duration, withID bool) {
	c := benchCluster(b)
	cfg := benchSaramaConfig(b, linger)
	ap, err := sarama.NewAsyncProducer(c.Brokers(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make(chan struct{})
	go func() {
		defer close(results)
		succ, errs := ap.Successes(), ap.Errors()
		for succ != nil || errs != nil {
			select {
			case _, ok := <-succ:
				if !ok {
					succ = nil
					continue
				}
				wg.Done()
			case pe, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				b.Error(pe.Err)
				wg.Done()
			}
		}
	}()
	wg.Add(b.N)
	start := startRound(b)
	idKey := []byte(bulwark.HeaderMessageID)
	for i := range b.N {
		msg := &sarama.ProducerMessage{Topic: benchTopic, Key: sarama.ByteEncoder(keys[i%len(keys)]), Value: sarama.ByteEncoder(value)}
		if withID {
			u := uuid.New()
			msg.Headers = []sarama.RecordHeader{{Key: idKey, Value: []byte(base64.RawURLEncoding.EncodeToString(u[:]))}}
		}
		ap.Input() <- msg
	}
	wg.Wait()
	reportRate(b, start)
	b.StopTimer()
	reportBatching(b, cfg.MetricRegistry)
	ap.AsyncClose()
	<-results
}

// benchFranz runs franz-go's kgo with the producer's defaults: idempotent,
// acks from all in-sync replicas, no compression; linger as given.
func benchFranz(b *testing.B, keys [][]byte, value []byte, linger time.Duration) {
	c := benchCluster(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.ProducerLinger(linger), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var failed sync.Once
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Do(func() { b.Error(err) })
		}
	}
	ctx := context.Background()
	start := startRound(b)
	for i := range b.N {
		cl.Produce(ctx, &kgo.Record{Topic: benchTopic, Key: keys[i%len(keys)], Value: value}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	reportRate(b, start)
}
