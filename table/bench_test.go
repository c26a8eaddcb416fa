package table_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/cputime"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/table"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	benchRecords    = 100_000
	benchKeys       = 20_000
	benchValueBytes = 100
	benchPartitions = 6
)

// benchCluster is a cluster with a topic of benchRecords records of
// benchValueBytes over benchKeys keys, not compacted (so that a restore
// reads every record), written once per benchmark.
func benchCluster(b *testing.B, records, keys int) *kafkatest.Cluster {
	b.Helper()
	c := kafkatest.NewCluster(b)
	if err := c.CreateTopic(testContext(b), "bench", benchPartitions, map[string]string{"cleanup.policy": "compact"}); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, benchValueBytes)
	msgs := make([]*bulwark.Message, records)
	for i := range msgs {
		msgs[i] = table.Update("bench", fmt.Appendf(nil, "key-%08d", i%keys), value)
	}
	write(b, newProducer(b, c), msgs)
	return c
}

// BenchmarkRestore restores a topic of 100k records (100 B values, 20k
// keys, 6 partitions) from the start: this package's table, and the same
// read into a map by raw sarama partition consumers and by a franz-go
// client, each up to the high watermark. It reports records/s (of the
// whole restore, connect included), cpu-ns/record (the process's CPU, the
// in-process cluster's included) and B/key: the heap the view holds
// once restored (the client closed), over its keys, key and value bytes
// (12 + 100) included.
func BenchmarkRestore(b *testing.B) {
	c := benchCluster(b, benchRecords, benchKeys)
	for _, impl := range []struct {
		name    string
		restore func(b *testing.B) (keys int, keep any)
	}{
		{"table", func(b *testing.B) (int, any) {
			tb, err := table.Open(testContext(b), c.Brokers(), "bench")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = tb.Close() })
			if err := tb.WaitReady(testContext(b)); err != nil {
				b.Fatal(err)
			}
			if tb.Progress().Records != benchRecords {
				b.Fatalf("restored %d records, want %d", tb.Progress().Records, benchRecords)
			}
			// Closed before the heap is measured, as the other
			// implementations are: what is left is the view alone, not
			// the client's buffers (nor those of the in-process
			// cluster's answers to its fetches). A closed table still
			// answers Get.
			_ = tb.Close()
			return tb.Len(), tb
		}},
		{"sarama", func(b *testing.B) (int, any) { m := saramaRestore(b, c); return len(m), m }},
		{"franz-go", func(b *testing.B) (int, any) { m := kgoRestore(b, c); return len(m), m }},
	} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			var perKey float64
			start, cpu := time.Now(), cputime.Process()
			for i := range b.N {
				var before runtime.MemStats
				last := i == b.N-1
				if last {
					runtime.GC()
					runtime.ReadMemStats(&before)
				}
				keys, keep := impl.restore(b)
				if keys != benchKeys {
					b.Fatalf("%d keys, want %d", keys, benchKeys)
				}
				if last {
					runtime.GC()
					var after runtime.MemStats
					runtime.ReadMemStats(&after)
					perKey = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(keys)
				}
				runtime.KeepAlive(keep)
			}
			b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "records/s")
			b.ReportMetric(float64((cputime.Process()-cpu).Nanoseconds())/float64(b.N*benchRecords), "cpu-ns/record")
			b.ReportMetric(perKey, "B/key")
		})
	}
}

// saramaRestore reads every partition of "bench" into a map with raw
// sarama partition consumers (read_committed), until the high watermark.
func saramaRestore(b *testing.B, c *kafkatest.Cluster) map[string][]byte {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Fetch.Default = 4 << 20
	client, err := sarama.NewClient(c.Brokers(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		b.Fatal(err)
	}
	defer consumer.Close()
	var mu sync.Mutex
	m := map[string][]byte{}
	var wg sync.WaitGroup
	for p := range int32(benchPartitions) {
		end, err := client.GetOffset("bench", p, sarama.OffsetNewest)
		if err != nil {
			b.Fatal(err)
		}
		pc, err := consumer.ConsumePartition("bench", p, sarama.OffsetOldest)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for msg := range pc.Messages() {
				mu.Lock()
				if msg.Value == nil {
					delete(m, string(msg.Key))
				} else {
					m[string(msg.Key)] = append([]byte(nil), msg.Value...)
				}
				mu.Unlock()
				if msg.Offset >= end-1 {
					return
				}
			}
		}()
	}
	wg.Wait()
	return m
}

// kgoRestore is saramaRestore with a franz-go client.
func kgoRestore(b *testing.B, c *kafkatest.Cluster) map[string][]byte {
	ends, err := c.EndOffsets(testContext(b), "bench", false)
	if err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.ConsumeTopics("bench"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	m := map[string][]byte{}
	left := len(ends)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value == nil {
				delete(m, string(r.Key))
			} else {
				m[string(r.Key)] = append([]byte(nil), r.Value...)
			}
			if r.Offset == ends[r.Partition]-1 {
				left--
			}
		})
	}
	return m
}
