package table_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/bulwarkgo/bulwark/table"
)

// testTimeout bounds every wait of a test.
const testTimeout = 60 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// compactedTopic creates a compacted topic on c. The small segment and
// zero delays make a real broker compact soon too; kfake compacts when
// told (compact), whatever the segment size.
func compactedTopic(t testing.TB, c *kafkatest.Cluster, topic string, partitions int32) {
	t.Helper()
	err := c.CreateTopic(testContext(t), topic, partitions, map[string]string{
		"cleanup.policy":            "compact",
		"segment.bytes":             "16384",
		"segment.ms":                "100",
		"min.cleanable.dirty.ratio": "0.01",
		"delete.retention.ms":       "0", // tombstones go with the first compaction
	})
	if err != nil {
		t.Fatal(err)
	}
}

func newProducer(t testing.TB, c *kafkatest.Cluster) *producer.Producer {
	t.Helper()
	p, err := producer.New(c.Brokers(), producer.WithConnection(c.ConnOptions()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func open(t testing.TB, c *kafkatest.Cluster, topic string, opts ...table.Option) *table.Table {
	t.Helper()
	opts = append([]table.Option{table.WithConnection(c.ConnOptions()...)}, opts...)
	tb, err := table.Open(testContext(t), c.Brokers(), topic, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tb.Close() })
	return tb
}

func waitReady(t testing.TB, tb *table.Table) {
	t.Helper()
	if err := tb.WaitReady(testContext(t)); err != nil {
		t.Fatalf("WaitReady: %v (progress %+v)", err, tb.Progress())
	}
}

// workload is a sequence of updates with overwrites and tombstones, and
// the table it must leave.
type workload struct {
	msgs  []*bulwark.Message
	model map[string][]byte
}

// newWorkload makes n updates of topic over keys keys: about one in eight
// a tombstone, the rest values that say which write they were.
func newWorkload(topic string, n, keys int, seed uint64) workload {
	rng := rand.New(rand.NewPCG(seed, seed))
	w := workload{model: map[string][]byte{}}
	for i := range n {
		key := fmt.Sprintf("key-%06d", rng.IntN(keys))
		if rng.IntN(8) == 0 {
			w.msgs = append(w.msgs, table.Tombstone(topic, []byte(key)))
			delete(w.model, key)
			continue
		}
		value := fmt.Appendf(nil, "value-%d-of-%s", i, key)
		w.msgs = append(w.msgs, table.Update(topic, []byte(key), value))
		w.model[key] = value
	}
	return w
}

// write sends msgs through p, all in flight at once, and fails the test on
// any error.
func write(t testing.TB, p *producer.Producer, msgs []*bulwark.Message) {
	t.Helper()
	ctx := testContext(t)
	var (
		mu    sync.Mutex
		first error
	)
	for _, m := range msgs {
		p.SendAsync(ctx, m, func(_ producer.Result, err error) {
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if first != nil {
		t.Fatal(first)
	}
}

// requireView fails the test unless tb holds exactly model.
func requireView(t testing.TB, tb *table.Table, model map[string][]byte) {
	t.Helper()
	if got := tb.Len(); got != len(model) {
		t.Errorf("table has %d keys, model %d", got, len(model))
	}
	bad := 0
	for k, want := range model {
		got, ok := tb.Get([]byte(k))
		if !ok || string(got) != string(want) {
			if bad++; bad <= 5 {
				t.Errorf("key %s: table %q (present %v), model %q", k, got, ok, want)
			}
		}
	}
	seen := 0
	for k, v := range tb.All() {
		seen++
		if want, ok := model[string(k)]; !ok || string(want) != string(v) {
			if bad++; bad <= 5 {
				t.Errorf("All yields key %s = %q, model %q (present %v)", k, v, want, ok)
			}
		}
	}
	if seen != len(model) {
		t.Errorf("All yielded %d keys, model has %d", seen, len(model))
	}
	if bad > 5 {
		t.Errorf("... %d mismatches in all", bad)
	}
}

// envInt reads a count from the environment, for runs bigger than the
// default.
func envInt(t testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// waitTick paces polling loops in tests.
func waitTick() <-chan time.Time { return time.After(10 * time.Millisecond) }

func newWriter(t testing.TB, c *kafkatest.Cluster, topic string) *table.Writer {
	t.Helper()
	w, err := table.NewWriter(newProducer(t, c), topic)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// put writes key = value through w; value "<nil>" writes a nil value
// (which Put sends as an empty one).
func put(t testing.TB, w *table.Writer, key, value string) {
	t.Helper()
	var v []byte
	if value != "<nil>" {
		v = []byte(value)
	}
	if _, err := w.Put(testContext(t), []byte(key), v); err != nil {
		t.Fatal(err)
	}
}

// newCompactedCluster is a cluster with a compacted topic "stock".
func newCompactedCluster(t testing.TB, brokers int, partitions int32) *kafkatest.Cluster {
	t.Helper()
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(brokers))
	compactedTopic(t, c, "stock", partitions)
	return c
}
