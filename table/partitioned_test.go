package table_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/internal/logtest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/table"
)

// member is one consumer of the group with a Partitioned listener; its
// handler checks every record's key against the state model.
type member struct {
	state *table.Partitioned
	model map[string][]byte // the state topic's final view

	mu       sync.Mutex
	owned    []int32 // input partitions assigned now, as the listener was told
	seen     []int32 // input partitions the handler got records of
	handled  int
	bad      []string
	consumer *consumer.Consumer
	stop     func() error
}

func (m *member) fail(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bad = append(m.bad, fmt.Sprintf(format, args...))
}

// listener passes the calls on to the Partitioned and checks that
// Assigned returns with the partitions restored.
func (m *member) listener() bulwark.RebalanceListener {
	drop := func(ctx context.Context, ps []bulwark.TopicPartition) {
		m.mu.Lock()
		for _, tp := range ps {
			m.owned = slices.DeleteFunc(m.owned, func(n int32) bool { return n == tp.Partition })
		}
		m.mu.Unlock()
		m.state.Revoked(ctx, ps)
	}
	return bulwark.RebalanceFuncs{
		OnAssigned: func(ctx context.Context, ps []bulwark.TopicPartition) {
			m.state.Assigned(ctx, ps)
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, tp := range ps {
				if _, err := m.state.For(tp.Partition); err != nil {
					m.bad = append(m.bad, fmt.Sprintf("Assigned returned with partition %d not ready: %v", tp.Partition, err))
				}
				m.owned = append(m.owned, tp.Partition)
			}
			slices.Sort(m.owned)
		},
		OnRevoked: drop,
		OnLost:    drop,
	}
}

func (m *member) Handle(_ context.Context, msg *bulwark.Message) error {
	v, ok, err := m.state.Get(msg.Partition, msg.Key)
	if err != nil {
		m.fail("record %s at partition %d: Get: %v", msg.Key, msg.Partition, err)
		return err
	}
	want, wantOK := m.model[string(msg.Key)]
	if ok != wantOK || string(v) != string(want) {
		m.fail("record %s at partition %d: state %q (present %v), model %q (present %v)", msg.Key, msg.Partition, v, ok, want, wantOK)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handled++
	if !slices.Contains(m.seen, msg.Partition) {
		m.seen = append(m.seen, msg.Partition)
	}
	return nil
}

// snapshot returns what the member owns, holds and has handled.
func (m *member) snapshot() (owned, held []int32, handled int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.owned), m.state.Partitions(), m.handled
}

func startMember(t *testing.T, c *kafkatest.Cluster, model map[string][]byte) *member {
	t.Helper()
	state, err := table.NewPartitioned(c.Brokers(), "stock", table.WithConnection(c.ConnOptions()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = state.Close() }) // after the consumer stopped: cleanups run last first
	m := &member{state: state, model: model}
	m.consumer, err = consumer.New(c.Brokers(), "workers", []string{"orders"}, m,
		consumer.WithConnection(c.ConnOptions()...),
		consumer.WithSessionTimeout(6*time.Second), consumer.WithHeartbeatInterval(500*time.Millisecond),
		consumer.WithCommitInterval(100*time.Millisecond),
		consumer.WithRebalanceListener(m.listener()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.consumer.Run(ctx) }()
	var once sync.Once
	var runErr error
	m.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(testTimeout):
				runErr = errors.New("Run did not return after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = m.stop() })
	return m
}

// waitUntil polls cond until it holds, failing the test after testTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := testContext(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-waitTick():
		}
	}
}

// modelByPartition is the view of each partition of the records recs.
func modelByPartition(recs []*bulwark.Message) map[int32]map[string][]byte {
	models := map[int32]map[string][]byte{}
	for _, m := range recs {
		model := models[m.Partition]
		if model == nil {
			model = map[string][]byte{}
			models[m.Partition] = model
		}
		if m.Value == nil {
			delete(model, string(m.Key))
		} else {
			model[string(m.Key)] = m.Value
		}
	}
	return models
}

// requireHeld fails the test unless m holds, restored, exactly the
// state partitions ns with the content models has for them.
func requireHeld(t *testing.T, name string, m *member, ns []int32, models map[int32]map[string][]byte) {
	t.Helper()
	if _, held, _ := m.snapshot(); !slices.Equal(held, ns) {
		t.Fatalf("%s holds state partitions %v, want %v", name, held, ns)
	}
	for _, n := range ns {
		tb, err := m.state.For(n)
		if err != nil {
			t.Fatalf("%s: For(%d): %v", name, n, err)
		}
		if p := tb.Progress(); len(p.Partitions) != 1 || p.Partitions[0].Partition != n {
			t.Errorf("%s: table of partition %d reads %+v", name, n, p.Partitions)
		}
		requireView(t, tb, models[n])
	}
}

// TestPartitionedFollowsTheAssignment: two members of a group over a
// 4-partition input, each with a Partitioned over the co-partitioned
// 4-partition state topic, hold the state of exactly their partitions and
// find every input key's state; once one leaves, the other holds all four.
func TestPartitionedFollowsTheAssignment(t *testing.T) {
	c := newCompactedCluster(t, 1, 4)
	for _, topic := range []string{"orders", "orders.dlt"} {
		if err := c.CreateTopic(testContext(t), topic, 4, nil); err != nil {
			t.Fatal(err)
		}
	}
	p := newProducer(t, c)
	const keys = 60
	w := newWorkload("stock", 600, keys, 19)
	write(t, p, w.msgs)
	recs, err := c.ReadTopic(testContext(t), "stock")
	if err != nil {
		t.Fatal(err)
	}
	models := modelByPartition(recs)
	// Every key once to the input, keyed as the state: co-partitioned.
	input := func(round int) []*bulwark.Message {
		var msgs []*bulwark.Message
		for i := range keys {
			msgs = append(msgs, &bulwark.Message{Topic: "orders", Key: fmt.Appendf(nil, "key-%06d", i), Value: fmt.Appendf(nil, "order-%d", round)})
		}
		return msgs
	}

	a := startMember(t, c, w.model)
	b := startMember(t, c, w.model)
	waitUntil(t, "the members to split the partitions", func() bool {
		ownedA, heldA, _ := a.snapshot()
		ownedB, heldB, _ := b.snapshot()
		return len(ownedA) > 0 && len(ownedB) > 0 && slices.Equal(ownedA, heldA) && slices.Equal(ownedB, heldB) &&
			slices.Equal(slices.Sorted(slices.Values(append(ownedA, ownedB...))), []int32{0, 1, 2, 3})
	})
	write(t, p, input(1))
	waitUntil(t, "both members to handle round 1", func() bool {
		_, _, ha := a.snapshot()
		_, _, hb := b.snapshot()
		return ha+hb >= keys
	})
	for name, m := range map[string]*member{"a": a, "b": b} {
		owned, _, _ := m.snapshot()
		m.mu.Lock()
		seen := slices.Sorted(slices.Values(m.seen))
		m.mu.Unlock()
		if len(seen) == 0 || !isSubset(seen, owned) {
			t.Errorf("%s handled records of partitions %v, owns %v", name, seen, owned)
		}
		requireHeld(t, name, m, owned, models)
	}

	if err := b.stop(); err != nil {
		t.Fatalf("b: Run: %v", err)
	}
	if _, held, _ := b.snapshot(); len(held) != 0 {
		t.Errorf("b stopped but holds state partitions %v", held)
	}
	waitUntil(t, "a to own every partition", func() bool {
		owned, _, _ := a.snapshot()
		return slices.Equal(owned, []int32{0, 1, 2, 3})
	})
	_, _, before := a.snapshot()
	write(t, p, input(2))
	waitUntil(t, "a to handle round 2", func() bool {
		_, _, h := a.snapshot()
		return h >= before+keys
	})
	requireHeld(t, "a", a, []int32{0, 1, 2, 3}, models)
	for name, m := range map[string]*member{"a": a, "b": b} {
		m.mu.Lock()
		if len(m.bad) > 0 {
			t.Errorf("%s: %s", name, strings.Join(m.bad, "; "))
		}
		m.mu.Unlock()
	}
}

func isSubset(sub, of []int32) bool {
	for _, n := range sub {
		if !slices.Contains(of, n) {
			return false
		}
	}
	return true
}

// TestPartitionedNotReady: a restore that cannot finish within Assigned's
// context is reported at WARN and goes on; Get reports ErrNotReady, in the
// pause class, until then, and ErrNotAssigned once the partition is
// revoked.
func TestPartitionedNotReady(t *testing.T) {
	c := newCompactedCluster(t, 1, 2)
	w := newWriter(t, c, "stock")
	for i := range 10 { // records in both partitions
		put(t, w, fmt.Sprint("k", i), "v")
	}
	var logs logtest.Buffer
	state, err := table.NewPartitioned(c.Brokers(), "stock", table.WithConnection(c.ConnOptions()...),
		table.WithDecoder(blockedDecoder{}), table.WithLogger(logs.Logger(slog.LevelWarn)))
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	ps := []bulwark.TopicPartition{{Topic: "orders", Partition: 0}, {Topic: "orders", Partition: 1}}
	ctx, cancel := context.WithTimeout(testContext(t), 300*time.Millisecond)
	defer cancel()
	state.Assigned(ctx, ps)
	if got := state.Partitions(); !slices.Equal(got, []int32{0, 1}) {
		t.Errorf("holds %v after Assigned, want [0 1]", got)
	}
	if !strings.Contains(logs.String(), "not restored within the assignment callback") {
		t.Errorf("no WARN for the unfinished restore; log:\n%s", logs.String())
	}
	for _, n := range []int32{0, 1} {
		_, _, err := state.Get(n, []byte("k0"))
		if !errors.Is(err, table.ErrNotReady) || bulwark.ClassOf(err) != bulwark.ClassPause {
			t.Errorf("Get(%d) while restoring: %v (class %v), want ErrNotReady in the pause class", n, err, bulwark.ClassOf(err))
		}
	}
	state.Revoked(testContext(t), ps[:1])
	if _, err := state.For(0); !errors.Is(err, table.ErrNotAssigned) || bulwark.ClassOf(err) != bulwark.ClassPause {
		t.Errorf("For(0) after Revoked: %v, want ErrNotAssigned in the pause class", err)
	}
	if err := state.Close(); err != nil {
		t.Fatal(err)
	}
	if got := state.Partitions(); len(got) != 0 {
		t.Errorf("holds %v after Close", got)
	}
	state.Assigned(testContext(t), ps)
	if got := state.Partitions(); len(got) != 0 {
		t.Errorf("holds %v after Assigned on a closed Partitioned", got)
	}
}

// TestPartitionedSharesStateAcrossTopics: input partitions of two topics
// with the same number share one state table, dropped with the last.
func TestPartitionedSharesStateAcrossTopics(t *testing.T) {
	c := newCompactedCluster(t, 1, 2)
	put(t, newWriter(t, c, "stock"), "k", "v")
	state, err := table.NewPartitioned(c.Brokers(), "stock", table.WithConnection(c.ConnOptions()...))
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	all := []bulwark.TopicPartition{{Topic: "a", Partition: 0}, {Topic: "b", Partition: 0}, {Topic: "a", Partition: 1}, {Topic: "b", Partition: 1}}
	state.Assigned(testContext(t), all)
	ta, err := state.For(0)
	if err != nil {
		t.Fatal(err)
	}
	state.Revoked(testContext(t), all[:1])
	if tb, err := state.For(0); err != nil || tb != ta {
		t.Errorf("partition 0 after one of its two inputs was revoked: %v, %v", tb, err)
	}
	state.Lost(testContext(t), all[1:2])
	if _, err := state.For(0); !errors.Is(err, table.ErrNotAssigned) {
		t.Errorf("partition 0 after both inputs went: %v, want ErrNotAssigned", err)
	}
	if got := state.Partitions(); !slices.Equal(got, []int32{1}) {
		t.Errorf("holds %v, want [1]", got)
	}
}

// TestNewPartitionedRefusesBadConfig: the assignment chooses the
// partitions, so WithPartitions is refused, as are missing arguments.
func TestNewPartitionedRefusesBadConfig(t *testing.T) {
	for name, f := range map[string]func() error{
		"partitions": func() error {
			_, err := table.NewPartitioned([]string{"127.0.0.1:1"}, "stock", table.WithPartitions(0))
			return err
		},
		"no topic":   func() error { _, err := table.NewPartitioned([]string{"127.0.0.1:1"}, ""); return err },
		"no brokers": func() error { _, err := table.NewPartitioned(nil, "stock"); return err },
	} {
		if err := f(); !errors.Is(err, table.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// TestPartitionedInEOSSession: an eos session's handler finds each input
// key's state in the table of its partition, and the update it emits in
// its transaction reaches that table once committed.
func TestPartitionedInEOSSession(t *testing.T) {
	c := newCompactedCluster(t, 1, 2)
	for _, topic := range []string{"words", "words.dlt"} {
		if err := c.CreateTopic(testContext(t), topic, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	p := newProducer(t, c)
	const keys = 20
	var state, input []*bulwark.Message
	for i := range keys {
		key := fmt.Appendf(nil, "key-%d", i)
		state = append(state, table.Update("stock", key, []byte("old")))
		input = append(input, &bulwark.Message{Topic: "words", Key: key, Value: []byte("new")})
	}
	write(t, p, state)
	write(t, p, input)

	tables, err := table.NewPartitioned(c.Brokers(), "stock", table.WithConnection(c.ConnOptions()...))
	if err != nil {
		t.Fatal(err)
	}
	defer tables.Close()
	var mu sync.Mutex
	var bad []string
	handled := map[string]bool{}
	h := eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
		v, ok, err := tables.Get(in.Partition, in.Key)
		if err != nil {
			return err
		}
		mu.Lock()
		if !handled[string(in.Key)] && (!ok || string(v) != "old") { // a retried transaction may see its own committed update
			bad = append(bad, fmt.Sprintf("key %s at partition %d: state %q (present %v), want \"old\"", in.Key, in.Partition, v, ok))
		}
		handled[string(in.Key)] = true
		mu.Unlock()
		return table.Put(out, "stock", in.Key, in.Value)
	})
	s, err := eos.New(c.Brokers(), "updater", []string{"words"}, "updater", h,
		eos.WithConnection(c.ConnOptions()...), eos.WithSessionTimeout(6*time.Second),
		eos.WithRebalanceListener(tables))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if got := tables.Partitions(); len(got) != 0 {
			t.Errorf("holds %v after the session stopped", got)
		}
	}()
	waitUntil(t, "the session's updates to reach its tables", func() bool {
		n := 0
		for _, part := range []int32{0, 1} {
			tb, err := tables.For(part)
			if err != nil {
				return false
			}
			for _, v := range tb.All() {
				if string(v) == "new" {
					n++
				}
			}
		}
		return n == keys
	})
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Error(strings.Join(bad, "; "))
	}
}
