package consumer

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
)

// firstSeen records, per key, the global order in which each record of that
// key was first processed.
type firstSeen struct {
	mu     sync.Mutex
	clock  int64
	first  map[string]map[int]int64 // key -> seq -> clock
	total  int
	visits int64
	// redelivered counts first attempts at records processed before:
	// deliveries again after a crash, a leave or a rebalance (retries in
	// place have a later attempt number).
	redelivered int64
}

func (f *firstSeen) see(key string, seq, attempt int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock++
	f.visits++
	m := f.first[key]
	if m == nil {
		m = map[int]int64{}
		f.first[key] = m
	}
	if _, ok := m[seq]; !ok {
		m[seq] = f.clock
		f.total++
	} else if attempt == 1 {
		f.redelivered++
	}
}

func (f *firstSeen) redeliveries() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.redelivered
}

func (f *firstSeen) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// Three members join, leave and crash at random while fetches and commits
// fail now and then and the handler fails some records: every record is
// processed at least once and, per key, record k is first processed after
// record k-1. A crash (connections cut, no leave) always hits a member that
// took records it has not committed, so that it leaves work behind; the test fails unless at least one such crash happened, the
// injected faults failed some requests and records were delivered again.
//
// The run is fixed by a seed (the actions and their timing; what the
// group does in between still varies). Environment:
//
//	BULWARK_CHAOS_SEED=<int64>  another seed (default 20261122); the seed
//	                            is logged, so a failing run can be replayed
//	BULWARK_CHAOS_LARGE=1       200k records, 2000 keys, 12 partitions and
//	                            100 actions within 15 minutes; run it with
//	                            -timeout 30m (go test's default of 10m
//	                            ends it first), e.g.
//	                            BULWARK_CHAOS_LARGE=1 go test -timeout 30m -run TestChaos ./consumer
func TestChaosNoRecordLostPerKeyOrderKept(t *testing.T) {
	records, keys, partitions, actions := 20_000, 200, int32(6), 10
	budget := 100 * time.Second
	if os.Getenv("BULWARK_CHAOS_LARGE") == "1" {
		records, keys, partitions, actions, budget = 200_000, 2000, 12, 100, 15*time.Minute
	}
	if testing.Short() {
		t.Skip("chaos run")
	}
	seed := int64(20261122)
	if s := os.Getenv("BULWARK_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("BULWARK_CHAOS_SEED: %v", err)
		}
	}
	t.Logf("seed %d, %d records, %d keys, %d partitions", seed, records, keys, partitions)
	rng := rand.New(rand.NewSource(seed))

	cl := newCluster(t, map[string]int32{"in": partitions, "in.dlt": 1})
	// Values are "key/seq": seq counts the records of one key in produce
	// order, which is their order within the key's partition.
	seqs := map[string]int{}
	vals := make([]string, records)
	for i := range records {
		k := fmt.Sprintf("key-%d", rng.Intn(keys))
		vals[i] = fmt.Sprintf("%s/%d", k, seqs[k])
		seqs[k]++
	}
	produceValues(t, cl, "in", records, func(i int) string { return strings.Split(vals[i], "/")[0] },
		func(i int) []byte { return []byte(vals[i]) })

	seen := &firstSeen{first: map[string]map[int]int64{}}
	handler := bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		key, seqText, _ := strings.Cut(string(msg.Value), "/")
		seq, _ := strconv.Atoi(seqText)
		seen.see(key, seq, msg.Attempt)
		h := fnv.New32a()
		_, _ = h.Write(msg.Value)
		switch v := h.Sum32() % 1000; {
		case v < 5:
			return bulwark.Permanentf("poison %s", msg.Value)
		case v < 30 && msg.Attempt == 1:
			return fmt.Errorf("transient failure of %s", msg.Value)
		}
		select {
		case <-time.After(time.Duration(500+rng2(msg.Offset)) * time.Microsecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})

	type member struct {
		c      *Consumer
		dialer *kafkatest.Dialer
		cancel context.CancelFunc
		done   chan error
	}
	var members [3]*member
	start := func(slot int) {
		d := kafkatest.NewDialer()
		workers := 1 + 3*(slot%2)
		c, err := New(cl.Brokers(), "g-chaos", []string{"in"}, handler, fastOpts(cl,
			WithConnection(conn.WithDialer(d)), WithKeyOrdering(workers), WithMaxInFlight(200, 1<<20))...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &member{c: c, dialer: d, cancel: cancel, done: make(chan error, 1)}
		go func() { m.done <- c.Run(ctx) }()
		members[slot] = m
	}
	var stopping sync.WaitGroup
	var runErrs atomic.Int32
	stop := func(slot int, crash bool) {
		m := members[slot]
		members[slot] = nil
		if crash {
			m.dialer.Kill()
		}
		m.cancel()
		stopping.Go(func() {
			select {
			case err := <-m.done:
				if err != nil {
					t.Logf("member %d Run: %v", slot, err)
					if !crash {
						runErrs.Add(1)
					}
				}
			case <-time.After(30 * time.Second):
				t.Errorf("member %d: Run did not return within 30s", slot)
			}
		})
	}
	defer func() {
		for i := range members {
			if members[i] != nil {
				stop(i, false)
			}
		}
		stopping.Wait()
	}()

	start(0)
	start(1)
	deadline := time.Now().Add(budget)
	// behind reports whether that member took records it has not
	// committed: crashing it leaves work for the next owner to redo.
	// Crashing a member that is caught up and committed tests nothing.
	behind := func(slot int) bool {
		if members[slot] == nil {
			return false
		}
		for _, p := range members[slot].c.Stats().Partitions {
			if p.NextOffset > max(p.Committed, 0) {
				return true
			}
		}
		return false
	}
	var joins, leaves, crashes int // every crash is of a member with uncommitted records
	var faults []*kafkatest.FaultHandle
	for seen.count() < records {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d records processed within %v", seen.count(), records, budget)
		}
		time.Sleep(time.Duration(800+rng.Intn(1500)) * time.Millisecond)
		if joins+leaves+crashes >= actions && crashes > 0 {
			continue // calm: let the group settle and finish
		}
		if testing.Verbose() {
			t.Logf("%v: %d processed", time.Now().Format("04:05.000"), seen.count())
		}
		if seen.count() >= records {
			break
		}
		slot, crash := rng.Intn(3), rng.Intn(2) == 0
		// The run must have a crash: once half the records are done
		// without one, every action that can be a crash is.
		crash = crash || crashes == 0 && seen.count() >= records/2
		alive := 0
		for _, m := range members {
			if m != nil {
				alive++
			}
		}
		switch {
		case members[slot] == nil:
			start(slot)
			joins++
		case alive == 1:
			// keep someone consuming
		case crash:
			// Crash a member with uncommitted records: crashing one that
			// has none proves nothing about redelivery.
			victim := -1
			for i := range 3 {
				if s := (slot + i) % 3; behind(s) {
					victim = s
					break
				}
			}
			if victim < 0 {
				continue // nobody is behind: no action this round
			}
			t.Logf("crash member %d, owning %d partitions", victim, len(members[victim].c.Stats().Partitions))
			stop(victim, true)
			crashes++
		default:
			stop(slot, false)
			leaves++
		}
		if rng.Intn(3) != 0 {
			req := []kafkatest.Request{kafkatest.Fetch, kafkatest.OffsetCommit}[rng.Intn(2)]
			faults = append(faults, cl.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{req},
				Err: kafkatest.NotLeaderOrFollower, Count: 1 + rng.Intn(2)}))
		}
	}
	hits := 0
	for _, f := range faults {
		hits += f.Hits()
	}
	seen.mu.Lock()
	visits := seen.visits
	seen.mu.Unlock()
	t.Logf("records %d: processed %d distinct in %d handler calls, %d redelivered; %d joins, %d leaves, "+
		"%d crashes of members with uncommitted records; %d faults injected, %d requests failed by them",
		records, seen.count(), visits, seen.redeliveries(), joins, leaves, crashes, len(faults), hits)
	if crashes == 0 {
		t.Fatal("no member with uncommitted records crashed: the run tested no crash")
	}
	if hits == 0 {
		t.Fatalf("none of the %d injected faults failed a request", len(faults))
	}
	if seen.redeliveries() == 0 {
		t.Fatal("no record was delivered again after crashes and leaves: the run tested no redelivery")
	}

	// Per key, first processing follows produce order.
	seen.mu.Lock()
	for key, m := range seen.first {
		for seq := 1; seq < len(m); seq++ {
			if m[seq] < m[seq-1] {
				seen.mu.Unlock()
				t.Fatalf("key %s: record %d first processed before record %d", key, seq, seq-1)
			}
		}
		if len(m) != seqs[key] {
			seen.mu.Unlock()
			t.Fatalf("key %s: %d of %d records processed", key, len(m), seqs[key])
		}
	}
	seen.mu.Unlock()

	// With the members left running, everything ends up committed.
	waitFor(t, 60*time.Second, "all offsets committed", func() bool {
		return sum(committed(t, cl, "g-chaos", "in")) == int64(records)
	})
	if runErrs.Load() > 0 {
		t.Fatalf("%d graceful stops returned errors", runErrs.Load())
	}
}

// rng2 is a cheap deterministic jitter per offset (handlers run
// concurrently, so they must not share the test's rand.Rand).
func rng2(offset int64) int64 {
	x := uint64(offset)*0x9E3779B97F4A7C15 + 1
	x ^= x >> 29
	return int64(x % 1000)
}
