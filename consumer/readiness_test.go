package consumer

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
)

// Ready waits for the backlog present at assignment: not while the
// handler still holds it up, then once everything up to the end was
// handled.
func TestReadyOnceCaughtUp(t *testing.T) {
	const topic = "ready"
	cl := newCluster(t, map[string]int32{topic: 2})
	produce(t, cl, topic, 100, func(i int) string { return strconv.Itoa(i) })
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	rec := newRecorder(func(ctx context.Context, _ *bulwark.Message) error {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	c, err := New(cl.Brokers(), "ready-group", []string{topic}, rec, fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	if st := c.State(); st.Joined || st.CaughtUp {
		t.Fatalf("state before Run: %+v", st)
	}
	runConsumer(t, c)
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("no record reached the handler")
	}
	waitFor(t, 30*time.Second, "joined with both partitions", func() bool {
		st := c.State()
		return st.Joined && st.Partitions == 2
	})
	time.Sleep(500 * time.Millisecond) // several readiness checks, with records still pending
	select {
	case <-c.Ready():
		t.Fatalf("ready with records of the backlog unhandled: %+v", c.State())
	default:
	}
	if st := c.State(); st.CaughtUp {
		t.Fatalf("caught up with records of the backlog unhandled: %+v", st)
	}
	close(release)
	select {
	case <-c.Ready():
	case <-time.After(30 * time.Second):
		t.Fatalf("not ready after the backlog was handled: %+v", c.State())
	}
	if st := c.State(); !st.CaughtUp || st.CaughtUpPartitions != 2 || rec.distinct() != 100 {
		t.Fatalf("ready: state %+v, %d records handled", st, rec.distinct())
	}
	for _, p := range c.Stats().Partitions {
		if !p.CaughtUp {
			t.Fatalf("partition %d not caught up in Stats", p.Partition)
		}
	}
}

// A member of a fresh group on empty partitions is ready at once.
func TestReadyOnEmptyPartitions(t *testing.T) {
	cl := newCluster(t, map[string]int32{"ready-empty": 3})
	c, err := New(cl.Brokers(), "ready-empty-group", []string{"ready-empty"}, newRecorder(nil), fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, c)
	select {
	case <-c.Ready():
	case <-time.After(30 * time.Second):
		t.Fatalf("not ready: %+v", c.State())
	}
	if st := c.State(); !st.Joined || st.Partitions != 3 || !st.CaughtUp {
		t.Fatalf("state %+v", st)
	}
}
