package consumer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
)

// listenerLog records a member's rebalance calls; onRevoked, if set, runs
// inside Revoked.
type listenerLog struct {
	mu                      sync.Mutex
	assigned, revoked, lost []int32
	calls                   []string
	onRevoked               func(ctx context.Context, ps []bulwark.TopicPartition)
}

func (l *listenerLog) add(kind string, to *[]int32, ps []bulwark.TopicPartition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range ps {
		*to = append(*to, p.Partition)
	}
	l.calls = append(l.calls, fmt.Sprint(kind, len(ps)))
}

func (l *listenerLog) Assigned(_ context.Context, ps []bulwark.TopicPartition) {
	l.add("assigned", &l.assigned, ps)
}

func (l *listenerLog) Revoked(ctx context.Context, ps []bulwark.TopicPartition) {
	if l.onRevoked != nil {
		l.onRevoked(ctx, ps)
	}
	l.add("revoked", &l.revoked, ps)
}

func (l *listenerLog) Lost(_ context.Context, ps []bulwark.TopicPartition) {
	l.add("lost", &l.lost, ps)
}

func (l *listenerLog) snapshot() (assigned, revoked, lost []int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sorted(l.assigned), sorted(l.revoked), sorted(l.lost)
}

func sorted(ps []int32) []int32 {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	return ps
}

// Two members join and leave: each member's listener sees the partitions
// it got and gave up, the sets partition the topic, and Revoked runs only
// once the partition's offsets are committed (the periodic commit is off,
// so only the final commit can have written them).
func TestRebalanceListenerSeesAssignmentsAndRevokesAfterCommit(t *testing.T) {
	const topic, group, n = "rb", "rb-group", 40
	cl := newCluster(t, map[string]int32{topic: 4})
	produce(t, cl, topic, n, func(i int) string { return strconv.Itoa(i) })

	var mu sync.Mutex
	handledEnd := map[int32]int64{} // partition -> offset after the last record handled
	handled := 0
	h := bulwark.HandlerFunc(func(_ context.Context, m *bulwark.Message) error {
		mu.Lock()
		defer mu.Unlock()
		handledEnd[m.Partition] = max(handledEnd[m.Partition], m.Offset+1)
		handled++
		return nil
	})
	var bad []string
	checkCommitted := func(ctx context.Context, ps []bulwark.TopicPartition) {
		offs, err := cl.CommittedOffsets(ctx, group, topic)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			bad = append(bad, err.Error())
			return
		}
		for _, p := range ps {
			if offs[p.Partition] != handledEnd[p.Partition] {
				bad = append(bad, fmt.Sprintf("partition %d revoked with committed offset %d, handled up to %d",
					p.Partition, offs[p.Partition], handledEnd[p.Partition]))
			}
		}
	}
	start := func(l *listenerLog) (*Consumer, func() error) {
		c, err := New(cl.Brokers(), group, []string{topic}, h,
			fastOpts(cl, WithCommitInterval(time.Hour), WithRebalanceListener(l))...)
		if err != nil {
			t.Fatal(err)
		}
		return c, runConsumer(t, c)
	}
	la := &listenerLog{onRevoked: checkCommitted}
	a, stopA := start(la)
	waitFor(t, 30*time.Second, "a handles every record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled >= n && len(partitionsOf(a)) == 4
	})
	if got, _, _ := la.snapshot(); !slices.Equal(got, []int32{0, 1, 2, 3}) {
		t.Fatalf("a: assigned %v, want every partition", got)
	}

	lb := &listenerLog{onRevoked: checkCommitted}
	b, stopB := start(lb)
	waitFor(t, 30*time.Second, "two partitions each", func() bool {
		_, rev, _ := la.snapshot()
		asg, _, _ := lb.snapshot()
		return len(partitionsOf(a)) == 2 && len(partitionsOf(b)) == 2 && len(rev) == 2 && len(asg) == 2
	})
	_, aRevoked, _ := la.snapshot()
	bAssigned, _, _ := lb.snapshot()
	if !slices.Equal(aRevoked, bAssigned) || !slices.Equal(sorted(append(partitionsOf(a), bAssigned...)), []int32{0, 1, 2, 3}) {
		t.Fatalf("a revoked %v, b assigned %v, a kept %v: not a split of the topic", aRevoked, bAssigned, partitionsOf(a))
	}

	if err := stopB(); err != nil {
		t.Fatalf("b: Run: %v", err)
	}
	if _, rev, lost := lb.snapshot(); !slices.Equal(rev, bAssigned) || len(lost) != 0 {
		t.Fatalf("b stopped: revoked %v, lost %v; want revoked %v", rev, lost, bAssigned)
	}
	waitFor(t, 30*time.Second, "a owns every partition again", func() bool {
		asg, _, _ := la.snapshot()
		return len(asg) == 6 && len(partitionsOf(a)) == 4
	})
	if err := stopA(); err != nil {
		t.Fatalf("a: Run: %v", err)
	}
	asg, rev, lost := la.snapshot()
	if want := sorted(append(aRevoked, 0, 1, 2, 3)); len(lost) != 0 || !slices.Equal(rev, want) || !slices.Equal(asg, sorted(append(bAssigned, 0, 1, 2, 3))) {
		t.Fatalf("a: assigned %v, revoked %v, lost %v", asg, rev, lost)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatal(bad)
	}
}

var _ bulwark.RebalanceListener = (*listenerLog)(nil)

// A member cut off from the cluster loses its partitions: Lost, not
// Revoked, as it cannot commit what it finished.
func TestRebalanceListenerLostWhenCutOff(t *testing.T) {
	const topic = "rb-lost"
	cl := newCluster(t, map[string]int32{topic: 2})
	produce(t, cl, topic, 10, func(i int) string { return strconv.Itoa(i) })
	rec := newRecorder(nil)
	d := kafkatest.NewDialer()
	l := &listenerLog{}
	c, err := New(cl.Brokers(), "rb-lost-group", []string{topic}, rec,
		fastOpts(cl, WithConnection(conn.WithDialer(d)), WithCommitInterval(time.Hour), WithRebalanceListener(l))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == 10 })
	d.Kill()
	waitFor(t, 30*time.Second, "both partitions lost", func() bool {
		_, _, lost := l.snapshot()
		return len(lost) == 2
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if asg, rev, lost := l.snapshot(); !slices.Equal(asg, []int32{0, 1}) || len(rev) != 0 || !slices.Equal(lost, []int32{0, 1}) {
		t.Fatalf("assigned %v, revoked %v, lost %v; want both assigned, then lost", asg, rev, lost)
	}
}
