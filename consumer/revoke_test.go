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

	var secondMu sync.Mutex
	firstOffset := map[int32]int64{}
	second := newRecorder(func(_ context.Context, msg *bulwark.Message) error {
		secondMu.Lock()
		if _, ok := firstOffset[msg.Partition]; !ok {
			firstOffset[msg.Partition] = msg.Offset
		}
		secondMu.Unlock()
		return nil
	})
	joined := time.Now()
	b, err := New(cl.Brokers(), "g-revoke", []string{"in"}, second, fastOpts(cl, noPeriodic)...)
	if err != nil {
		t.Fatal(err)
	}
	stopB := runConsumer(t, b)
	var moved int32 = -1
	waitFor(t, 30*time.Second, "the second member to get a partition", func() bool {
		secondMu.Lock()
		defer secondMu.Unlock()
		for p := range firstOffset {
			moved = p
			return true
		}
		return false
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
	secondMu.Lock()
	start := firstOffset[moved]
	secondMu.Unlock()
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
