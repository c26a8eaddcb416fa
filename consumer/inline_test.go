package consumer

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
)

// With one worker the records are handled on the claim's goroutine; a
// handler slower than the watchdog's tick gets a watcher that reads the
// claim meanwhile, and fetching pauses once the watcher holds a run's
// worth. Every record is still handled once, in partition order, and the
// watcher's records are handed back, not lost.
func TestInlineWatcherKeepsOrderAndLosesNothing(t *testing.T) {
	const n = 3000
	cl := newCluster(t, map[string]int32{"in": 1})
	produceValues(t, cl, "in", n, func(int) string { return "k" }, func(i int) []byte { return []byte(strconv.Itoa(i)) })

	var mu sync.Mutex
	var order []int
	var handled atomic.Int64
	h := bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		i, err := strconv.Atoi(string(msg.Value))
		if err != nil {
			return bulwark.Permanent(err)
		}
		if i%500 == 250 { // a few handlers outlast two watchdog ticks
			time.Sleep(3 * watchTick)
		}
		mu.Lock()
		order = append(order, i)
		mu.Unlock()
		handled.Add(1)
		return nil
	})
	c, err := New(cl.Brokers(), "g-inline", []string{"in"}, h, fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	var watchers, pauses atomic.Int64
	c.cfg.onWatch = func(string, int32) { watchers.Add(1) }
	c.cfg.onFetchPause = func(_ string, _ int32, paused bool) {
		if paused {
			pauses.Add(1)
		}
	}
	stop := runConsumer(t, c)
	waitFor(t, 60*time.Second, "every record to be handled", func() bool { return handled.Load() >= n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != n {
		t.Fatalf("handled %d records, want %d", len(order), n)
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("record %d handled at position %d: out of order or repeated", v, i)
		}
	}
	if watchers.Load() == 0 {
		t.Fatal("no watcher started: the test did not exercise the hand-over")
	}
	t.Logf("%d watchers, %d fetch pauses", watchers.Load(), pauses.Load())
}
