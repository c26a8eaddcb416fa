package produce_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/cputime"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduce compares the engine with raw sarama's AsyncProducer and
// franz-go's kgo, producing keyed 100 B records, idempotent with acks=all
// and linger 0, to an in-process kafkatest cluster (3 brokers, 6
// partitions), none compressing. One op is one record, acknowledged;
// records/s is b.N over the run, allocs/op is per record, cpu-ns/record is
// the process's CPU time over the run per record. The cluster runs in the
// same process, so its CPU counts in cpu-ns/record too: compare the three
// side by side, not with figures from a separate broker.
func BenchmarkProduce(b *testing.B) {
	// Random values: kgo compresses with snappy by default, so it runs
	// without compression like the others, and incompressible data keeps
	// any codec from flattering one side.
	value := make([]byte, 100)
	_, _ = rand.Read(value)
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key-%04d", i)
	}
	const topic = "bench"
	cluster := func(b *testing.B) *kafkatest.Cluster {
		return kafkatest.NewCluster(b, kafkatest.WithTopic(topic, 6))
	}
	// measure times sending b.N records and waiting for every ack.
	measure := func(b *testing.B, send func(ctx context.Context, i int), flush func(context.Context) error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		b.ReportAllocs()
		cpu0 := cputime.Process().Nanoseconds()
		b.ResetTimer()
		for i := range b.N {
			send(ctx, i)
		}
		require.NoError(b, flush(ctx))
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(cputime.Process().Nanoseconds()-cpu0)/float64(b.N), "cpu-ns/record")
	}
	var failed atomic.Int64
	countErr := func(err error) {
		if err != nil {
			failed.Add(1)
		}
	}

	b.Run("engine", func(b *testing.B) {
		c := cluster(b)
		cl := newClient(b, c)
		e := newEngine(b, cl)
		failed.Store(0)
		cb := func(_ int32, _ int64, err error) { countErr(err) }
		measure(b, func(ctx context.Context, i int) {
			e.Produce(ctx, produce.Record{Topic: topic, Key: keys[i%len(keys)], Value: value}, cb)
		}, e.Flush)
		require.Zero(b, failed.Load())
	})

	b.Run("sarama", func(b *testing.B) {
		c := cluster(b)
		s, err := conn.Build(c.ConnOptions()...)
		require.NoError(b, err)
		cfg, err := saramax.NewProducerConfig(s, saramax.ProducerSettings{RetryMax: 10, RetryBackoff: 50 * time.Millisecond})
		require.NoError(b, err)
		require.NoError(b, saramax.ValidateProducer(cfg))
		p, err := sarama.NewAsyncProducer(c.Brokers(), cfg)
		require.NoError(b, err)
		failed.Store(0)
		var acked atomic.Int64
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range p.Successes() {
				acked.Add(1)
			}
		}()
		go func() {
			defer wg.Done()
			for range p.Errors() {
				failed.Add(1)
				acked.Add(1)
			}
		}()
		measure(b, func(_ context.Context, i int) {
			p.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(keys[i%len(keys)]), Value: sarama.ByteEncoder(value)}
		}, func(ctx context.Context) error {
			for acked.Load() < int64(b.N) {
				if err := ctx.Err(); err != nil {
					return err
				}
				time.Sleep(100 * time.Microsecond)
			}
			return nil
		})
		require.NoError(b, p.Close())
		wg.Wait()
		require.Zero(b, failed.Load())
		require.Equal(b, int64(b.N), acked.Load())
	})

	b.Run("franz-go", func(b *testing.B) {
		c := cluster(b)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.ProducerLinger(0), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerBatchCompression(kgo.NoCompression()))
		require.NoError(b, err)
		defer cl.Close()
		failed.Store(0)
		promise := func(_ *kgo.Record, err error) { countErr(err) }
		measure(b, func(ctx context.Context, i int) {
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: keys[i%len(keys)], Value: value}, promise)
		}, cl.Flush)
		require.Zero(b, failed.Load())
	})
}
