package consumer

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceToPartitions writes n records "p<partition>-<i>" to each of the
// partitions of topic.
func produceToPartitions(t *testing.T, cl *kafkatest.Cluster, topic string, partitions int32, n int) {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(cl.Brokers()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for p := range partitions {
		for i := range n {
			r := &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i)}
			if err := client.ProduceSync(context.Background(), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// firstOffsets is a handler that records the first offset it got from
// each partition.
type firstOffsets struct {
	mu    sync.Mutex
	first map[int32]int64
}

func (f *firstOffsets) Handle(_ context.Context, msg *bulwark.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		f.first = map[int32]int64{}
	}
	if _, ok := f.first[msg.Partition]; !ok {
		f.first[msg.Partition] = msg.Offset
	}
	return nil
}

// of returns the first offset seen from partition p.
func (f *firstOffsets) of(p int32) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	off, ok := f.first[p]
	return off, ok
}

// anyPartition returns a partition that records came from.
func (f *firstOffsets) anyPartition() (int32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range f.first {
		return p, true
	}
	return 0, false
}

// On a revoke, a record still running on the revoked partition after the
// grace period has its context cancelled and stays uncommitted, the records
// finished before it are committed before the partition is released (the
// periodic commit is off, so only the release commit can do it), and the
// next owner starts right at the unfinished record. The partition the
// member keeps is not disturbed. When Run's context ends, Run returns after
// the grace period (plus at most StopMargin) with the finished offsets of
// the kept partition committed.
func TestRevokeGivesGraceThenCancelsAndCommitsFinished(t *testing.T) {
	const slow, grace = 5, 1500 * time.Millisecond
	cl := newCluster(t, map[string]int32{"in": 2})
	produceToPartitions(t, cl, "in", 2, 10)

	type slowRun struct {
		started, cancelled time.Time
		ctxErr             error
	}
	var mu sync.Mutex
	runs := map[int32]*slowRun{}
	blocked := make(chan int32, 2)
	first := newRecorder(func(ctx context.Context, msg *bulwark.Message) error {
		if msg.Offset != slow {
			return nil
		}
		r := &slowRun{started: time.Now()}
		mu.Lock()
		runs[msg.Partition] = r
		mu.Unlock()
		blocked <- msg.Partition
		<-ctx.Done() // a handler that needs longer than the grace period
		mu.Lock()
		r.cancelled, r.ctxErr = time.Now(), ctx.Err()
		mu.Unlock()
		return ctx.Err()
	})
	// No periodic commit: only releasing a partition commits.
	noPeriodic := WithCommitInterval(time.Hour)
	a, err := New(cl.Brokers(), "g-revoke", []string{"in"}, first, fastOpts(cl, WithGracePeriod(grace), noPeriodic)...)
	if err != nil {
		t.Fatal(err)
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	for range 2 {
		select {
		case <-blocked:
		case <-time.After(20 * time.Second):
			t.Fatal("slow records did not start")
		}
	}
	for p, off := range committed(t, cl, "g-revoke", "in") {
		if off > 0 {
			t.Fatalf("partition %d committed at %d before any release", p, off)
		}
	}

	second := &firstOffsets{}
	joined := time.Now()
	b, err := New(cl.Brokers(), "g-revoke", []string{"in"}, second, fastOpts(cl, noPeriodic)...)
	if err != nil {
		t.Fatal(err)
	}
	stopB := runConsumer(t, b)
	var moved int32 = -1
	waitFor(t, 30*time.Second, "the second member to get a partition", func() bool {
		var ok bool
		moved, ok = second.anyPartition()
		return ok
	})
	kept := 1 - moved

	mu.Lock()
	movedRun, keptRun := *runs[moved], *runs[kept]
	mu.Unlock()
	if movedRun.ctxErr == nil {
		t.Fatal("the slow handler of the revoked partition was not cancelled")
	}
	// The revoke began after the second member started, so the handler had
	// at least the grace period from then.
	if gave := movedRun.cancelled.Sub(joined); gave < grace {
		t.Fatalf("revoked handler cancelled %v after the second member joined, want at least the grace period %v", gave, grace)
	}
	if keptRun.ctxErr != nil {
		t.Fatal("the handler of the kept partition was cancelled by the revoke")
	}
	start, _ := second.of(moved)
	if start != slow {
		t.Fatalf("the next owner started partition %d at %d, want %d (the first unfinished record)", moved, start, slow)
	}

	// Stop the first member: its kept partition drains the same way.
	stopped := time.Now()
	cancelA()
	select {
	case err := <-doneA:
		took := time.Since(stopped)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if took < grace || took > grace+StopMargin+stopSlack {
			t.Fatalf("Run returned %v after cancel, want between %v and %v", took, grace, grace+StopMargin)
		}
		t.Logf("Run returned %v after cancel (grace %v)", took, grace)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	mu.Lock()
	keptRun = *runs[kept]
	mu.Unlock()
	if keptRun.ctxErr == nil {
		t.Fatal("the slow handler of the kept partition was not cancelled at stop")
	}
	if got := committed(t, cl, "g-revoke", "in")[kept]; got != slow {
		t.Fatalf("partition %d committed at %d after stop, want %d", kept, got, slow)
	}
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
}

// A record in flight when its partition is revoked, or when Run's context
// ends, that finishes within the grace period is committed before the
// partition is released (the periodic commit is off): the next owner
// starts right after it, and after the stop the committed offset includes
// it. Records behind it that had not started stay uncommitted. Neither the
// revoke nor Run waits out the grace period once the record finished.
func TestRevokeAndStopCommitRecordFinishedWithinGrace(t *testing.T) {
	const slow, grace, finishAfter = 5, 3 * time.Second, 300 * time.Millisecond
	cl := newCluster(t, map[string]int32{"in": 2})
	produceToPartitions(t, cl, "in", 2, 10)

	type slowRun struct {
		once     sync.Once
		release  chan struct{}
		finished time.Time
		ctxErr   error
	}
	runs := map[int32]*slowRun{0: {release: make(chan struct{})}, 1: {release: make(chan struct{})}}
	var mu sync.Mutex
	started := make(chan int32, 2)
	first := newRecorder(func(ctx context.Context, msg *bulwark.Message) error {
		r := runs[msg.Partition]
		if msg.Offset != slow {
			return nil
		}
		r.once.Do(func() { started <- msg.Partition })
		select {
		case <-r.release: // finishes when the test says, within the grace period
		case <-ctx.Done():
		}
		mu.Lock()
		r.finished, r.ctxErr = time.Now(), ctx.Err()
		mu.Unlock()
		return ctx.Err()
	})
	noPeriodic := WithCommitInterval(time.Hour)
	a, err := New(cl.Brokers(), "g-revoke-finish", []string{"in"}, first, fastOpts(cl, WithGracePeriod(grace), noPeriodic)...)
	if err != nil {
		t.Fatal(err)
	}
	drains := make(chan int32, 4)
	a.cfg.onDrain = func(_ string, p int32) { drains <- p }
	// drained waits for a partition of a to start draining, then lets its
	// slow record finish finishAfter later, and returns the partition and
	// when the drain began.
	drained := func(what string) (int32, time.Time) {
		t.Helper()
		select {
		case p := <-drains:
			began := time.Now()
			time.Sleep(finishAfter)
			close(runs[p].release)
			return p, began
		case <-time.After(30 * time.Second):
			t.Fatalf("no partition drained on %s", what)
			return 0, time.Time{}
		}
	}
	finished := func(p int32) (time.Time, error) {
		mu.Lock()
		defer mu.Unlock()
		return runs[p].finished, runs[p].ctxErr
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	for range 2 {
		select {
		case <-started:
		case <-time.After(20 * time.Second):
			t.Fatal("slow records did not start")
		}
	}

	second := &firstOffsets{}
	b, err := New(cl.Brokers(), "g-revoke-finish", []string{"in"}, second, fastOpts(cl, noPeriodic)...)
	if err != nil {
		t.Fatal(err)
	}
	stopB := runConsumer(t, b)
	moved, began := drained("revoke")
	kept := 1 - moved
	waitFor(t, 30*time.Second, "the second member to start the moved partition", func() bool {
		_, ok := second.of(moved)
		return ok
	})
	at, ctxErr := finished(moved)
	if ctxErr != nil {
		t.Fatalf("the revoked partition's record was cancelled (%v) although it finished within the grace period", ctxErr)
	}
	if took := at.Sub(began); took > grace {
		t.Fatalf("the revoked partition's record finished %v after the drain began, beyond the grace period %v", took, grace)
	}
	start, _ := second.of(moved)
	if start != slow+1 {
		t.Fatalf("the next owner started partition %d at %d, want %d (after the record finished within grace)", moved, start, slow+1)
	}
	if got := committed(t, cl, "g-revoke-finish", "in")[moved]; got != slow+1 {
		t.Fatalf("partition %d committed at %d after the revoke, want %d", moved, got, slow+1)
	}
	if at, _ := finished(kept); !at.IsZero() {
		t.Fatal("the kept partition's record finished although nothing released it")
	}

	// Stop the first member: the kept partition's record finishes within
	// the grace period and is committed.
	stopped := time.Now()
	cancelA()
	if p, _ := drained("stop"); p != kept {
		t.Fatalf("partition %d drained on stop, want the kept partition %d", p, kept)
	}
	select {
	case err := <-doneA:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if took := time.Since(stopped); took >= grace {
			t.Fatalf("Run returned %v after cancel: it waited out the grace period %v although the record finished after %v", took, grace, finishAfter)
		} else {
			t.Logf("Run returned %v after cancel (record finished after %v, grace %v)", took, finishAfter, grace)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, ctxErr := finished(kept); ctxErr != nil {
		t.Fatalf("the kept partition's record was cancelled (%v) although it finished within the grace period", ctxErr)
	}
	if got := committed(t, cl, "g-revoke-finish", "in")[kept]; got != slow+1 {
		t.Fatalf("partition %d committed at %d after stop, want %d", kept, got, slow+1)
	}
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
}
