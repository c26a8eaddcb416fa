package consumer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
)

// With key-ordered workers a slow record at offset o holds the committed
// offset at o while later records finish; after a crash the next member
// starts again at o.
func TestSlowRecordHoldsCommitAndRedeliveryStartsThere(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1})
	const n, slow = 40, 5
	produce(t, cl, "in", n, func(i int) string { return fmt.Sprintf("k%d", i) })

	release := make(chan struct{})
	var handled atomic.Int32
	first := newRecorder(func(ctx context.Context, msg *bulwark.Message) error {
		if msg.Offset == slow {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		handled.Add(1)
		return nil
	})
	dialer := kafkatest.NewDialer()
	c1, err := New(cl.Brokers(), "g-slow", []string{"in"}, first,
		fastOpts(cl, WithKeyOrdering(8), WithConnection(conn.WithDialer(dialer)))...)
	if err != nil {
		t.Fatal(err)
	}
	stop1 := runConsumer(t, c1)
	waitFor(t, 20*time.Second, "all but the slow record", func() bool { return handled.Load() == n-1 })
	waitFor(t, 5*time.Second, "commit at the slow record", func() bool { return committed(t, cl, "g-slow", "in")[0] == slow })
	time.Sleep(300 * time.Millisecond) // several commit intervals
	if got := committed(t, cl, "g-slow", "in")[0]; got != slow {
		t.Fatalf("committed %d, want %d (slow record unfinished)", got, slow)
	}
	if p := c1.Stats().Partitions; len(p) != 1 || p[0].InFlight != 1 {
		t.Fatalf("partition stats %+v, want 1 in flight", p)
	}

	dialer.Kill() // crash: no leave, no further commit
	_ = stop1()
	close(release)
	if got := committed(t, cl, "g-slow", "in")[0]; got != slow {
		t.Fatalf("after the crash committed %d, want %d", got, slow)
	}

	var mu sync.Mutex
	var offsets []int64
	second := newRecorder(func(_ context.Context, msg *bulwark.Message) error {
		mu.Lock()
		offsets = append(offsets, msg.Offset)
		mu.Unlock()
		return nil
	})
	c2, err := New(cl.Brokers(), "g-slow", []string{"in"}, second, fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	stop2 := runConsumer(t, c2)
	waitFor(t, 30*time.Second, "redelivery", func() bool { return second.distinct() == n-slow })
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if offsets[0] != slow {
		t.Fatalf("redelivery started at %d, want %d", offsets[0], slow)
	}
}

// Records with the same key are handled in order while different keys run
// in parallel.
func TestKeyOrderingKeepsPerKeyOrder(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1})
	const n, keys = 2000, 50
	produce(t, cl, "in", n, func(i int) string { return fmt.Sprintf("k%d", i%keys) })
	var mu sync.Mutex
	last := map[string]int64{}
	var violations, concurrent, peak atomic.Int32
	h := bulwark.HandlerFunc(func(_ context.Context, msg *bulwark.Message) error {
		cur := concurrent.Add(1)
		defer concurrent.Add(-1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		mu.Lock()
		if prev, ok := last[string(msg.Key)]; ok && prev >= msg.Offset {
			violations.Add(1)
		}
		last[string(msg.Key)] = msg.Offset
		mu.Unlock()
		time.Sleep(100 * time.Microsecond)
		return nil
	})
	c, err := New(cl.Brokers(), "g-keys", []string{"in"}, h, fastOpts(cl, WithKeyOrdering(16))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "all committed", func() bool { return committed(t, cl, "g-keys", "in")[0] == n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if violations.Load() != 0 {
		t.Fatalf("%d per-key order violations", violations.Load())
	}
	if peak.Load() < 2 {
		t.Fatalf("peak concurrency %d: keys did not run in parallel", peak.Load())
	}
}
