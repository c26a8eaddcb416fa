package eos_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/internal/cputime"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Throughput of consume-transform-produce with one transaction per batch:
// this package vs a hand-written sarama loop with the same batching vs
// franz-go's GroupTransactSession, against kafkatest, 100 B values.
// Run: go test -run '^$' -bench BenchmarkEOS -benchtime 100000x -count 6 -timeout 60m ./eos/

const benchValue = 100

func benchCluster(b *testing.B, n int) *kafkatest.Cluster {
	b.Helper()
	c := kafkatest.NewCluster(b, kafkatest.WithTopic("in", 6), kafkatest.WithTopic("out", 6))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	val := make([]byte, benchValue)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "in", Key: []byte(fmt.Sprintf("k%04d", i%1000)), Value: val}
	}
	for s := 0; s < n; s += 10000 {
		if err := cl.ProduceSync(context.Background(), recs[s:min(s+10000, n)]...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// measure runs pipeline until the group committed n offsets. It reports
// rec/s from the first committed offset to the last (steady throughput:
// joining the group and initialising producers are left out, for every
// implementation alike), rec/s-with-start over the whole run, and
// first-commit-ms.
func measure(b *testing.B, c *kafkatest.Cluster, n int, run func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	b.ResetTimer()
	start, startCPU := time.Now(), cputime.Process().Nanoseconds()
	go func() { done <- run(ctx) }()
	var firstAt time.Time
	var firstN int64
	deadline := time.After(5 * time.Minute)
	for {
		got := committedSum(c, "g", "in")
		if got > 0 && firstAt.IsZero() {
			firstAt, firstN = time.Now(), got
		}
		if got >= int64(n) {
			break
		}
		select {
		case err := <-done:
			b.Fatalf("the loop stopped after %d of %d offsets: %v", got, n, err)
		case <-deadline:
			b.Fatalf("%d of %d offsets committed in 5 minutes", got, n)
		case <-time.After(2 * time.Millisecond):
		}
	}
	end, endCPU := time.Now(), cputime.Process().Nanoseconds()
	b.StopTimer()
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		b.Fatal(err)
	}
	if steady := end.Sub(firstAt); firstN < int64(n) && steady > 0 {
		b.ReportMetric(float64(int64(n)-firstN)/steady.Seconds(), "rec/s")
	}
	b.ReportMetric(float64(n)/end.Sub(start).Seconds(), "rec/s-with-start")
	b.ReportMetric(float64(firstAt.Sub(start).Milliseconds()), "first-commit-ms")
	b.ReportMetric(float64(endCPU-startCPU)/float64(n), "cpu-ns/record")
}

func BenchmarkEOS(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		// franz-go's default linger is 10ms; sarama's and ours are 0.
		for _, linger := range []time.Duration{0, time.Millisecond, 10 * time.Millisecond} {
			b.Run(fmt.Sprintf("bulwark/batch=%d/linger=%v", batch, linger), func(b *testing.B) {
				c := benchCluster(b, b.N)
				s, err := eos.New(c.Brokers(), "g", []string{"in"}, "bench", eos.HandlerFunc(
					func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
						out.Emit(&bulwark.Message{Topic: "out", Key: in.Key, Value: in.Value})
						return nil
					}), eos.WithBatchSize(batch), eos.WithBatchInterval(100*time.Millisecond), eos.WithLinger(linger),
					eos.WithSessionTimeout(6*time.Second))
				if err != nil {
					b.Fatal(err)
				}
				measure(b, c, b.N, s.Run)
			})
			b.Run(fmt.Sprintf("sarama/batch=%d/linger=%v", batch, linger), func(b *testing.B) {
				c := benchCluster(b, b.N)
				measure(b, c, b.N, func(ctx context.Context) error { return rawSaramaLoop(ctx, c.Brokers(), batch, linger) })
			})
			b.Run(fmt.Sprintf("franz-go/batch=%d/linger=%v", batch, linger), func(b *testing.B) {
				c := benchCluster(b, b.N)
				measure(b, c, b.N, func(ctx context.Context) error { return franzLoop(ctx, c.Brokers(), batch, linger) })
			})
		}
	}
}

// rawSaramaLoop is what a careful sarama user writes by hand: a consumer
// group whose claims feed one loop, one transactional async producer,
// offsets with group metadata, commit per batch or interval.
func rawSaramaLoop(ctx context.Context, brokers []string, batch int, linger time.Duration) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Transaction.ID = "raw-sarama"
	cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
	cfg.Producer.Flush.Frequency = linger
	p, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	cg, err := sarama.NewConsumerGroup(brokers, "g", cfg)
	if err != nil {
		return err
	}
	defer cg.Close()
	h := &rawHandler{p: p, batch: batch}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{"in"}, h); err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

type rawHandler struct {
	p     sarama.AsyncProducer
	batch int
	in    chan *sarama.ConsumerMessage
	done  chan struct{}
}

func (h *rawHandler) Setup(sess sarama.ConsumerGroupSession) error {
	h.in, h.done = make(chan *sarama.ConsumerMessage, 256), make(chan struct{})
	meta := sarama.NewConsumerGroupMetadataFromSession(sess, "g", nil)
	in, done, ctx := h.in, h.done, sess.Context()
	go func() {
		defer close(done)
		offs := map[int32]int64{}
		n := 0
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		commit := func() {
			if n == 0 {
				return
			}
			m := map[string][]*sarama.PartitionOffsetMetadata{}
			for p, o := range offs {
				m["in"] = append(m["in"], &sarama.PartitionOffsetMetadata{Partition: p, Offset: o, LeaderEpoch: -1})
			}
			_ = h.p.AddOffsetsToTxnWithGroupMetadata(m, meta)
			if err := h.p.CommitTxn(); err != nil {
				_ = h.p.AbortTxn()
			}
			n = 0
			clear(offs)
		}
		for {
			select {
			case msg := <-in:
				if n == 0 {
					_ = h.p.BeginTxn()
				}
				h.p.Input() <- &sarama.ProducerMessage{Topic: "out", Key: sarama.ByteEncoder(msg.Key), Value: sarama.ByteEncoder(msg.Value)}
				offs[msg.Partition] = msg.Offset + 1
				if n++; n >= h.batch {
					commit()
				}
			case <-tick.C:
				commit()
			case <-ctx.Done():
				if n > 0 {
					_ = h.p.AbortTxn()
				}
				return
			}
		}
	}()
	return nil
}

func (h *rawHandler) Cleanup(sarama.ConsumerGroupSession) error { <-h.done; return nil }

func (h *rawHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			select {
			case h.in <- m:
			case <-sess.Context().Done():
				return nil
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

// franzLoop is franz-go's GroupTransactSession, as its documentation
// shows it.
func franzLoop(ctx context.Context, brokers []string, batch int, linger time.Duration) error {
	s, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(brokers...),
		kgo.TransactionalID("franz"),
		kgo.ConsumerGroup("g"),
		kgo.ConsumeTopics("in"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ProducerLinger(linger),
		kgo.SessionTimeout(6*time.Second),
	)
	if err != nil {
		return err
	}
	defer s.Close()
	for ctx.Err() == nil {
		fetches := s.PollRecords(ctx, batch)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		if fetches.Empty() {
			continue
		}
		if err := s.Begin(); err != nil {
			return err
		}
		fetches.EachRecord(func(r *kgo.Record) {
			s.Produce(ctx, &kgo.Record{Topic: "out", Key: r.Key, Value: r.Value}, nil)
		})
		if _, err := s.End(ctx, kgo.TryCommit); err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}
