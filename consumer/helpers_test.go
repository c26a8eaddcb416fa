package consumer

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/leakcheck"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options(
		// kfake's and kgo's background goroutines end asynchronously after Close.
		goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*Cluster).run"),
	)...)
}

// newCluster starts a cluster with the given topics (partition counts).
func newCluster(t testing.TB, topics map[string]int32) *kafkatest.Cluster {
	t.Helper()
	var opts []kafkatest.Option
	for name, n := range topics {
		opts = append(opts, kafkatest.WithTopic(name, n))
	}
	return kafkatest.NewCluster(t, opts...)
}

// produce writes n records to topic through franz-go, so the input does
// not depend on the code under test. key(i) and value(i) shape record i.
func produce(t testing.TB, cl *kafkatest.Cluster, topic string, n int, key func(i int) string, headers ...kgo.RecordHeader) {
	t.Helper()
	produceValues(t, cl, topic, n, key, func(i int) []byte { return []byte(fmt.Sprintf("v%d", i)) }, headers...)
}

// produceValues is produce with record i's value from value(i).
func produceValues(t testing.TB, cl *kafkatest.Cluster, topic string, n int, key func(i int) string, value func(i int) []byte, headers ...kgo.RecordHeader) {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(cl.Brokers()...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// Small batches: a fetch returns at least one whole batch, so batch
		// size bounds how finely fetching can be paused.
		kgo.ProducerBatchMaxBytes(32<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := 0; i < n; i++ {
		r := &kgo.Record{Value: value(i), Headers: headers}
		if key != nil {
			r.Key = []byte(key(i))
		}
		wg.Add(1)
		client.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
}

// fastOpts are consumer options that suit kfake and short tests.
func fastOpts(cl *kafkatest.Cluster, extra ...Option) []Option {
	opts := []Option{
		WithConnection(cl.ConnOptions()...),
		WithSessionTimeout(6 * time.Second),
		WithHeartbeatInterval(500 * time.Millisecond),
		WithCommitInterval(100 * time.Millisecond),
		WithGracePeriod(3 * time.Second),
		WithRetry(3, time.Millisecond, 10*time.Millisecond),
	}
	if os.Getenv("BULWARK_TEST_LOG") != "" {
		opts = append(opts, WithLogger(testLogger()))
	}
	return append(opts, extra...)
}

// runConsumer starts c.Run and returns a stop function that cancels it and
// returns Run's error.
func runConsumer(t testing.TB, c *Consumer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("Run did not return within 30s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// committedSum waits for the committed offsets of group on topic and
// returns them.
func committed(t testing.TB, cl *kafkatest.Cluster, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := cl.CommittedOffsets(context.Background(), group, topic)
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

func sum(m map[int32]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// recorder is a handler that records what it saw.
type recorder struct {
	mu    sync.Mutex
	seen  map[string]int // value -> times handled
	order []*bulwark.Message
	fn    func(ctx context.Context, msg *bulwark.Message) error
}

func newRecorder(fn func(ctx context.Context, msg *bulwark.Message) error) *recorder {
	return &recorder{seen: map[string]int{}, fn: fn}
}

func (r *recorder) Handle(ctx context.Context, msg *bulwark.Message) error {
	r.mu.Lock()
	r.seen[string(msg.Value)]++
	r.order = append(r.order, msg)
	r.mu.Unlock()
	if r.fn != nil {
		return r.fn(ctx, msg)
	}
	return nil
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}
