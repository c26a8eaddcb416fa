package consumer

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/cputime"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Benchmarks consume a fixed backlog with a fresh group per iteration, so
// b.N only repeats the measurement. They report records/s from the first
// record handled to the last (throughput: joining the group and
// connecting are excluded, for bulwark and for raw sarama alike) and
// first-record-ms, the time from start to the first record handled.
//
//	go test -run '^$' -bench . -count 6 ./consumer | tee bench.txt
//	go run golang.org/x/perf/cmd/benchstat@latest bench.txt

// benchRecords is the pipe's backlog: franz-go moves 100k in about 50 ms,
// too short a window for a steady rate.
const benchRecords = 300_000

// noopRecords is the no-op benchmark's backlog: at millions of records/s a
// 100k backlog is gone in tens of milliseconds, too short a window for a
// steady rate; with 500k the spread between runs was still 10-30%, with
// 1.5M (about half a second) it is 2-9%.
const noopRecords = 1_500_000

var benchGroups atomic.Int64

// benchGroup returns a group name never used before in this process, so
// every measurement (also across -count) starts from the oldest record.
func benchGroup(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, benchGroups.Add(1))
}

func benchCluster(b *testing.B, topics map[string]int32, records int, keys int) *kafkatest.Cluster {
	b.Helper()
	cl := newCluster(b, topics)
	value := make([]byte, 100)
	for topic := range topics {
		if topic == "out" {
			continue
		}
		produceValues(b, cl, topic, records, func(i int) string { return strconv.Itoa(i % keys) }, func(int) []byte { return value })
	}
	return cl
}

func benchOpts(cl *kafkatest.Cluster, extra ...Option) []Option {
	return append([]Option{
		WithConnection(cl.ConnOptions()...),
		WithSessionTimeout(6 * time.Second),
		WithHeartbeatInterval(time.Second),
		WithCommitInterval(200 * time.Millisecond),
	}, extra...)
}

// consumeAll runs a consumer with h until n records were handled and
// returns records/s.
func consumeAll(b *testing.B, cl *kafkatest.Cluster, group string, n int64, h func(ctx context.Context, msg *bulwark.Message, count *atomic.Int64) error, opts ...Option) {
	b.Helper()
	var count atomic.Int64
	var first firstRecord
	done := make(chan struct{})
	var once sync.Once
	c, err := New(cl.Brokers(), group, []string{"in"}, bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		first.mark()
		err := h(ctx, msg, &count)
		if count.Load() >= n {
			once.Do(func() { close(done) })
		}
		return err
	}), benchOpts(cl, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	start := time.Now()
	go func() { runDone <- c.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("handled %d of %d in 2 minutes", count.Load(), n)
	}
	end, endCPU := time.Now(), cputime.Process().Nanoseconds()
	cancel()
	if err := <-runDone; err != nil {
		b.Fatal(err)
	}
	first.report(b, start, end, endCPU, n)
}

// consumeAllBatches is consumeAll for a batch handler.
func consumeAllBatches(b *testing.B, cl *kafkatest.Cluster, group string, n int64, h BatchHandlerFunc, opts ...Option) {
	b.Helper()
	var count atomic.Int64
	var first firstRecord
	done := make(chan struct{})
	var once sync.Once
	c, err := NewBatch(cl.Brokers(), group, []string{"in"}, BatchHandlerFunc(func(ctx context.Context, batch []*bulwark.Message) error {
		first.mark()
		if err := h(ctx, batch); err != nil {
			return err
		}
		if count.Add(int64(len(batch))) >= n {
			once.Do(func() { close(done) })
		}
		return nil
	}), benchOpts(cl, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	start := time.Now()
	go func() { runDone <- c.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("handled %d of %d in 2 minutes", count.Load(), n)
	}
	end, endCPU := time.Now(), cputime.Process().Nanoseconds()
	cancel()
	if err := <-runDone; err != nil {
		b.Fatal(err)
	}
	first.report(b, start, end, endCPU, n)
}

// firstRecord remembers when the first record was handled.
// cpu-ns/record is the process's CPU time (user and system, the in-process
// cluster's included, so compare implementations side by side only) from
// the first record handled to the last, per record: the same window as
// records/s.
type firstRecord struct {
	once sync.Once
	at   time.Time
	cpu  int64
}

func (f *firstRecord) mark() {
	f.once.Do(func() { f.at, f.cpu = time.Now(), cputime.Process().Nanoseconds() })
}

func (f *firstRecord) report(b *testing.B, start, end time.Time, endCPU, n int64) {
	b.ReportMetric(float64(n-1)/end.Sub(f.at).Seconds(), "records/s")
	b.ReportMetric(float64(f.at.Sub(start).Milliseconds()), "first-record-ms")
	b.ReportMetric(float64(endCPU-f.cpu)/float64(n-1), "cpu-ns/record")
}

type rawHandler struct {
	n     int64
	count *atomic.Int64
	done  chan struct{}
	once  *sync.Once
	first *firstRecord
}

func (rawHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (rawHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h rawHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.first.mark()
		s.MarkMessage(m, "")
		if h.count.Add(1) >= h.n {
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}

// rawSarama consumes n records with a plain sarama ConsumerGroup (same
// strategy, auto-commit on) and reports as consumeAll does.
func rawSarama(b *testing.B, cl *kafkatest.Cluster, group string, n int64) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = time.Second
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyCooperativeSticky()}
	start := time.Now() // connecting counts, as it does for bulwark's Run
	cg, err := sarama.NewConsumerGroup(cl.Brokers(), group, cfg)
	if err != nil {
		b.Fatal(err)
	}
	h := rawHandler{n: n, count: new(atomic.Int64), done: make(chan struct{}), once: new(sync.Once), first: new(firstRecord)}
	ctx, cancel := context.WithCancel(context.Background())
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{"in"}, h); err != nil && ctx.Err() == nil {
				b.Error(err)
				return
			}
		}
	}()
	select {
	case <-h.done:
	case <-time.After(2 * time.Minute):
		b.Fatal("raw sarama did not finish")
	}
	end, endCPU := time.Now(), cputime.Process().Nanoseconds()
	cancel()
	<-consumed
	_ = cg.Close()
	h.first.report(b, start, end, endCPU, n)
}

// No-op handler: bulwark's consumer against a raw sarama ConsumerGroup on
// the same topic in the same run.
func BenchmarkNoopHandler(b *testing.B) {
	cl := benchCluster(b, map[string]int32{"in": 6}, noopRecords, 1000)
	noop := func(_ context.Context, _ *bulwark.Message, n *atomic.Int64) error { n.Add(1); return nil }
	b.Run("bulwark", func(b *testing.B) {
		for range b.N {
			consumeAll(b, cl, benchGroup("noop-b"), noopRecords, noop)
		}
	})
	b.Run("sarama-raw", func(b *testing.B) {
		for range b.N {
			rawSarama(b, cl, benchGroup("noop-s"), noopRecords)
		}
	})
}

// One partition, a handler that sleeps 1 ms, 1000 keys: 64 key-ordered
// workers against strict partition order.
func BenchmarkSleepingHandlerKeyOrdering(b *testing.B) {
	cl := benchCluster(b, map[string]int32{"in": 1}, 20_000, 1000)
	sleepy := func(_ context.Context, _ *bulwark.Message, n *atomic.Int64) error {
		time.Sleep(time.Millisecond)
		n.Add(1)
		return nil
	}
	b.Run("sequential", func(b *testing.B) {
		for range b.N {
			consumeAll(b, cl, benchGroup("sleep-1"), 1000, sleepy)
		}
	})
	b.Run("keyed-64", func(b *testing.B) {
		for range b.N {
			consumeAll(b, cl, benchGroup("sleep-64"), 20_000, sleepy, WithKeyOrdering(64))
		}
	})
}

// At-least-once consume -> produce: bulwark's consumer feeding bulwark's
// producer (the offset is committed after the produce is acknowledged),
// beside franz-go doing the same.
func BenchmarkConsumeProducePipe(b *testing.B) {
	cl := benchCluster(b, map[string]int32{"in": 6, "out": 6}, benchRecords, 1000)
	b.Run("bulwark", func(b *testing.B) {
		p, err := producer.New(cl.Brokers(), producer.WithConnection(cl.ConnOptions()...), producer.WithLinger(2*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		pipe := func(ctx context.Context, msg *bulwark.Message, n *atomic.Int64) error {
			if _, err := p.Send(ctx, &bulwark.Message{Topic: "out", Key: msg.Key, Value: msg.Value}); err != nil {
				return err
			}
			n.Add(1)
			return nil
		}
		for range b.N {
			consumeAll(b, cl, benchGroup("pipe-b"), benchRecords, pipe, WithKeyOrdering(64), WithMaxInFlight(20_000, 64<<20))
		}
	})
	// A batch handler sends its batch asynchronously and returns once
	// every record is acknowledged: the offsets still commit only after
	// the produce, without a round trip per record.
	b.Run("bulwark-batch", func(b *testing.B) {
		p, err := producer.New(cl.Brokers(), producer.WithConnection(cl.ConnOptions()...), producer.WithLinger(2*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		for range b.N {
			consumeAllBatches(b, cl, benchGroup("pipe-bb"), benchRecords, func(ctx context.Context, batch []*bulwark.Message) error {
				var (
					wg       sync.WaitGroup
					mu       sync.Mutex
					firstErr error
				)
				wg.Add(len(batch))
				for _, m := range batch {
					p.SendAsync(ctx, &bulwark.Message{Topic: "out", Key: m.Key, Value: m.Value}, func(_ producer.Result, err error) {
						if err != nil {
							mu.Lock()
							firstErr = cmp.Or(firstErr, err)
							mu.Unlock()
						}
						wg.Done()
					})
				}
				wg.Wait()
				return firstErr
			}, WithBatchSize(2000, 5*time.Millisecond), WithMaxInFlight(20_000, 64<<20))
		}
	})
	b.Run("franz-go", func(b *testing.B) {
		for range b.N {
			franzPipe(b, cl, benchGroup("pipe-f"), benchRecords)
		}
	})
}

// franzPipe polls at most 1000 records, produces them, waits for the acks,
// then commits the polled offsets: at-least-once, a commit per 1000 records
// at most (PollFetches would hand over the whole buffer, committing far
// less often than the others).
func franzPipe(b *testing.B, cl *kafkatest.Cluster, group string, n int) {
	start := time.Now()
	var first firstRecord
	client, err := kgo.NewClient(kgo.SeedBrokers(cl.Brokers()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics("in"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	done := 0
	for done < n {
		fetches := client.PollRecords(ctx, 1000)
		if errs := fetches.Errors(); len(errs) > 0 {
			b.Fatal(errs[0].Err)
		}
		var wg sync.WaitGroup
		fetches.EachRecord(func(r *kgo.Record) {
			first.mark()
			wg.Add(1)
			client.Produce(ctx, &kgo.Record{Topic: "out", Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
				wg.Done()
			})
			done++
		})
		wg.Wait()
		if err := client.CommitUncommittedOffsets(ctx); err != nil {
			b.Fatal(err)
		}
	}
	end, endCPU := time.Now(), cputime.Process().Nanoseconds()
	first.report(b, start, end, endCPU, int64(n))
}

// End-to-end latency at a fixed 5000 records/s, linger 0: the producer
// stamps each value with the send time, the consumer takes the difference
// on receipt; p50/p99/max over latencyRecords records (5 s per impl), after
// a warm-up that waits until the consumer has joined and received.
//
//	go test -run '^$' -bench BenchmarkLatency -benchtime 1x -count 3 ./consumer
const (
	latencyRate    = 5000
	latencyRecords = 25_000
)

func BenchmarkLatency(b *testing.B) {
	b.Run("impl=bulwark", func(b *testing.B) {
		for range b.N {
			cl := newCluster(b, map[string]int32{"lat": 6})
			rec := newLatencies()
			c, err := New(cl.Brokers(), benchGroup("lat-b"), []string{"lat"}, bulwark.HandlerFunc(func(_ context.Context, m *bulwark.Message) error {
				rec.add(m.Value)
				return nil
			}), WithConnection(cl.ConnOptions()...), WithSessionTimeout(6*time.Second), WithHeartbeatInterval(time.Second), WithKeyOrdering(64))
			if err != nil {
				b.Fatal(err)
			}
			p, err := producer.New(cl.Brokers(), producer.WithConnection(cl.ConnOptions()...), producer.WithLinger(0))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			runDone := make(chan error, 1)
			go func() { runDone <- c.Run(ctx) }()
			paced(b, rec, func(i int, v []byte) {
				p.SendAsync(ctx, &bulwark.Message{Topic: "lat", Key: []byte(strconv.Itoa(i % 1000)), Value: v}, func(_ producer.Result, err error) {
					if err != nil && ctx.Err() == nil {
						b.Error(err)
					}
				})
			})
			cancel()
			_ = p.Close()
			if err := <-runDone; err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=sarama", func(b *testing.B) {
		for range b.N {
			cl := newCluster(b, map[string]int32{"lat": 6})
			rec := newLatencies()
			cfg := sarama.NewConfig()
			cfg.Version = sarama.V3_6_0_0
			cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
			cfg.Consumer.Group.Session.Timeout = 6 * time.Second
			cfg.Consumer.Group.Heartbeat.Interval = time.Second
			cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Flush.Frequency = 0
			p, err := sarama.NewAsyncProducer(cl.Brokers(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				for err := range p.Errors() {
					b.Error(err)
				}
			}()
			cg, err := sarama.NewConsumerGroup(cl.Brokers(), benchGroup("lat-s"), cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			consumed := make(chan struct{})
			go func() {
				defer close(consumed)
				for ctx.Err() == nil {
					_ = cg.Consume(ctx, []string{"lat"}, latencyHandler{rec})
				}
			}()
			paced(b, rec, func(i int, v []byte) {
				p.Input() <- &sarama.ProducerMessage{Topic: "lat", Key: sarama.StringEncoder(strconv.Itoa(i % 1000)), Value: sarama.ByteEncoder(v)}
			})
			cancel()
			<-consumed
			_ = cg.Close()
			_ = p.Close()
		}
	})
	b.Run("impl=franz-go", func(b *testing.B) {
		for range b.N {
			cl := newCluster(b, map[string]int32{"lat": 6})
			rec := newLatencies()
			cons, err := kgo.NewClient(kgo.SeedBrokers(cl.Brokers()...), kgo.ConsumerGroup(benchGroup("lat-f")), kgo.ConsumeTopics("lat"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(time.Second))
			if err != nil {
				b.Fatal(err)
			}
			prod, err := kgo.NewClient(kgo.SeedBrokers(cl.Brokers()...), kgo.ProducerLinger(0))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			polled := make(chan struct{})
			go func() {
				defer close(polled)
				for ctx.Err() == nil {
					fs := cons.PollFetches(ctx)
					fs.EachRecord(func(r *kgo.Record) { rec.add(r.Value) })
				}
			}()
			paced(b, rec, func(i int, v []byte) {
				prod.Produce(ctx, &kgo.Record{Topic: "lat", Key: []byte(strconv.Itoa(i % 1000)), Value: v}, func(_ *kgo.Record, err error) {
					if err != nil && ctx.Err() == nil {
						b.Error(err)
					}
				})
			})
			cancel()
			<-polled
			prod.Close()
			cons.Close()
		}
	})
}

// latencies collects receive-minus-send for measured records; a value's
// first byte says whether it is a warm-up (0) or a measured (1) record,
// the next 8 the send time in Unix nanoseconds.
type latencies struct {
	mu       sync.Mutex
	warm     chan struct{}
	warmOnce sync.Once
	got      []time.Duration
	all      chan struct{}
}

func newLatencies() *latencies {
	return &latencies{warm: make(chan struct{}), all: make(chan struct{}), got: make([]time.Duration, 0, latencyRecords)}
}

func (l *latencies) add(v []byte) {
	now := time.Now().UnixNano()
	if len(v) < 9 {
		return
	}
	if v[0] == 0 {
		l.warmOnce.Do(func() { close(l.warm) })
		return
	}
	var sent int64
	for i := 1; i < 9; i++ {
		sent = sent<<8 | int64(v[i])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, time.Duration(now-sent))
	if len(l.got) == latencyRecords {
		close(l.all)
	}
}

func stamp(measured bool) []byte {
	v := make([]byte, 100)
	if measured {
		v[0] = 1
	}
	t := time.Now().UnixNano()
	for i := 8; i >= 1; i-- {
		v[i] = byte(t)
		t >>= 8
	}
	return v
}

// paced sends warm-up records every 10 ms until one is received (bounded
// at 30 s), then latencyRecords at latencyRate on a fixed schedule, waits
// (at most 10 s) for all to arrive and reports p50/p99/max.
func paced(b *testing.B, l *latencies, send func(i int, v []byte)) {
	b.Helper()
	warmBy := time.After(30 * time.Second)
warm:
	for i := 0; ; i++ {
		send(i, stamp(false))
		select {
		case <-l.warm:
			break warm
		case <-warmBy:
			b.Fatal("no warm-up record received in 30 s")
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(200 * time.Millisecond) // let warm-up stragglers drain
	start := time.Now()
	gap := time.Second / latencyRate
	for i := range latencyRecords {
		if d := time.Until(start.Add(time.Duration(i) * gap)); d > 0 {
			time.Sleep(d)
		}
		send(i, stamp(true))
	}
	select {
	case <-l.all:
	case <-time.After(10 * time.Second):
		l.mu.Lock()
		n := len(l.got)
		l.mu.Unlock()
		b.Fatalf("received %d of %d measured records", n, latencyRecords)
	}
	l.mu.Lock()
	got := slices.Clone(l.got)
	l.mu.Unlock()
	slices.Sort(got)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(got[len(got)/2]), "p50-ms")
	b.ReportMetric(ms(got[len(got)*99/100]), "p99-ms")
	b.ReportMetric(ms(got[len(got)-1]), "max-ms")
	b.ReportMetric(float64(latencyRecords)/time.Since(start).Seconds(), "records/s")
}

type latencyHandler struct{ l *latencies }

func (latencyHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (latencyHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h latencyHandler) ConsumeClaim(_ sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.l.add(m.Value)
	}
	return nil
}
