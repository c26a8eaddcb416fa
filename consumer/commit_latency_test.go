package consumer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
)

// Commits go over their own connection, so they do not wait behind a
// long-poll fetch: measured while the consumer is behind (a backlog) and
// while it is caught up (its fetches wait the full MaxWaitTime, 500 ms, on
// the broker). The bound asserted is generous (250 ms, half a long poll);
// the figures are logged (about 4 ms caught up on kfake; the first commit
// includes finding the coordinator).
func TestCommitLatencyBehindAndCaughtUp(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1})
	produce(t, cl, "in", 20_000, nil)
	var handled atomic.Int64
	h := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		if handled.Add(1)%100 == 0 {
			time.Sleep(time.Millisecond) // stay behind for a while
		}
		return nil
	})
	c, err := New(cl.Brokers(), "g-latency", []string{"in"}, h, fastOpts(cl, WithCommitInterval(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 20*time.Second, "some commits while behind", func() bool { return c.Stats().Commits >= 5 })
	behind := c.Stats()
	if p := behind.Partitions; len(p) != 1 || p[0].Lag == 0 {
		t.Logf("warning: backlog drained before the first samples; lag %+v", p)
	}
	waitFor(t, 30*time.Second, "caught up", func() bool { return committed(t, cl, "g-latency", "in")[0] == 20_000 })
	// Now caught up: every fetch long-polls. Produce a trickle so commits
	// keep happening.
	before := c.Stats().Commits
	var maxCaughtUp time.Duration
	for i := 0; i < 10; i++ {
		produce(t, cl, "in", 1, nil)
		time.Sleep(120 * time.Millisecond)
		maxCaughtUp = max(maxCaughtUp, c.Stats().LastCommitLatency)
	}
	after := c.Stats()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("commit latency: behind max %v; caught up last-sampled max %v; overall max %v over %d commits (%d failed)",
		behind.MaxCommitLatency, maxCaughtUp, after.MaxCommitLatency, after.Commits, after.CommitFailures)
	if after.Commits-before < 5 {
		t.Fatalf("only %d commits while caught up", after.Commits-before)
	}
	if maxCaughtUp > 250*time.Millisecond {
		t.Fatalf("a caught-up commit took %v: it waited behind a long-poll fetch", maxCaughtUp)
	}
}
