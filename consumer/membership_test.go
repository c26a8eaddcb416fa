package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
)

func partitionsOf(c *Consumer) []int32 {
	var ps []int32
	for _, p := range c.Stats().Partitions {
		ps = append(ps, p.Partition)
	}
	return ps
}

// A static member that restarts within the session timeout gets its
// partitions back without a rebalance: the other member keeps its own
// throughout.
func TestStaticMemberRestartKeepsAssignment(t *testing.T) {
	cl := newCluster(t, map[string]int32{"static": 4})
	noop := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { return nil })
	start := func(id string) (*Consumer, func() error) {
		c, err := New(cl.Brokers(), "static-group", []string{"static"}, noop, fastOpts(cl, WithStaticMembership(id))...)
		if err != nil {
			t.Fatal(err)
		}
		return c, runConsumer(t, c)
	}
	a, stopA := start("member-a")
	waitFor(t, 30*time.Second, "member a owns every partition", func() bool { return len(partitionsOf(a)) == 4 })
	b, _ := start("member-b")
	waitFor(t, 30*time.Second, "two members with two partitions each", func() bool {
		return len(partitionsOf(a)) == 2 && len(partitionsOf(b)) == 2
	})
	before, ofB := partitionsOf(a), partitionsOf(b)

	// Watch b: its assignment must not change while a restarts.
	var changed atomic.Bool
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for watchCtx.Err() == nil {
			if !slices.Equal(partitionsOf(b), ofB) {
				changed.Store(true)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	if err := stopA(); err != nil {
		t.Fatalf("a: Run: %v", err)
	}
	a2, _ := start("member-a")
	waitFor(t, 30*time.Second, "the restarted member a owns partitions again", func() bool { return len(partitionsOf(a2)) == 2 })
	time.Sleep(500 * time.Millisecond) // a rebalance, if any, would show by now
	stopWatch()
	wg.Wait()
	if got := partitionsOf(a2); !slices.Equal(got, before) {
		t.Fatalf("restarted member got %v, had %v", got, before)
	}
	if changed.Load() {
		t.Fatal("the other member's partitions changed while a static member restarted")
	}
}

// Two processes with one instance ID: the older one is fenced and Run
// says so.
func TestDuplicateStaticInstanceIsFenced(t *testing.T) {
	cl := newCluster(t, map[string]int32{"dup": 2})
	noop := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { return nil })
	first, err := New(cl.Brokers(), "dup-group", []string{"dup"}, noop, fastOpts(cl, WithStaticMembership("same"))...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- first.Run(ctx) }()
	waitFor(t, 30*time.Second, "first member assigned", func() bool { return len(partitionsOf(first)) == 2 })

	second, err := New(cl.Brokers(), "dup-group", []string{"dup"}, noop, fastOpts(cl, WithStaticMembership("same"))...)
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, second)
	select {
	case err := <-done:
		if !errors.Is(err, ErrFencedInstance) || !errors.Is(err, bulwark.ErrFenced) {
			t.Fatalf("first member's Run returned %v, want ErrFencedInstance (bulwark.ErrFenced)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fenced member kept running")
	}
}

func TestStartFromNewestSkipsTheBacklog(t *testing.T) {
	cl := newCluster(t, map[string]int32{"fresh": 2})
	produce(t, cl, "fresh", 50, func(i int) string { return strconv.Itoa(i) })
	rec := newRecorder(nil)
	c, err := New(cl.Brokers(), "newest-group", []string{"fresh"}, rec, fastOpts(cl, WithStartFromNewest())...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "assignment", func() bool { return len(c.Stats().Partitions) == 2 })
	// The consumer resolves "newest" shortly after the assignment: keep
	// adding new records until one arrives.
	sent := 0
	deadline := time.Now().Add(30 * time.Second)
	for rec.distinct() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no new record handled within 30s")
		}
		produceValues(t, cl, "fresh", 5, func(i int) string { return strconv.Itoa(i) },
			func(i int) []byte { return []byte(fmt.Sprintf("new-%d", sent+i)) })
		sent += 5
		time.Sleep(200 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for v := range rec.seen {
		if !strings.HasPrefix(v, "new-") {
			t.Fatalf("backlog record %s handled with WithStartFromNewest", v)
		}
	}
}

func TestRetryMaxElapsedBoundsInPlaceRetries(t *testing.T) {
	cl := newCluster(t, map[string]int32{"slow": 1, "slow.dlt": 1})
	produce(t, cl, "slow", 1, func(int) string { return "k" })
	var calls atomic.Int64
	h := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		calls.Add(1)
		return errors.New("still down")
	})
	c, err := New(cl.Brokers(), "elapsed-group", []string{"slow"}, h,
		fastOpts(cl, WithRetry(1000, 20*time.Millisecond, 20*time.Millisecond), WithRetryMaxElapsed(300*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "the dead letter", func() bool {
		ends, err := cl.EndOffsets(context.Background(), "slow.dlt", true)
		return err == nil && sum(ends) == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// 300 ms of 20 ms backoffs: far fewer than the 1000 attempts allowed.
	if n := calls.Load(); n < 2 || n > 100 {
		t.Fatalf("%d handler calls, want a few (bounded by the elapsed time, not the 1000 attempts)", n)
	}
	dlt, err := cl.ReadTopic(context.Background(), "slow.dlt")
	if err != nil {
		t.Fatal(err)
	}
	if att, _ := dlt[0].Header(bulwark.HeaderDLTAttempts); string(att) != strconv.FormatInt(calls.Load(), 10) {
		t.Fatalf("dead letter says %s attempts, handler ran %d times", att, calls.Load())
	}
}
