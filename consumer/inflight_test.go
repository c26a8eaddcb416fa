package consumer

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
)

// A slow handler facing a 100k-record backlog never has more records in
// flight than configured, and fetched-but-waiting records stay bounded
// (fetching pauses) instead of growing with the backlog.
func TestSlowHandlerBoundsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("produces 100k records")
	}
	const backlog, limit, valueSize, fetchBytes = 100_000, 64, 200, 64 << 10
	cl := newCluster(t, map[string]int32{"in": 4})
	value := make([]byte, valueSize)
	produceValues(t, cl, "in", backlog, func(i int) string { return fmt.Sprintf("k%d", i%500) },
		func(int) []byte { return value })

	var inHandler, peak atomic.Int64
	h := bulwark.HandlerFunc(func(ctx context.Context, _ *bulwark.Message) error {
		cur := inHandler.Add(1)
		defer inHandler.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		time.Sleep(2 * time.Millisecond)
		return nil
	})
	var pauses atomic.Int32
	c, err := New(cl.Brokers(), "g-bound", []string{"in"}, h, fastOpts(cl,
		WithKeyOrdering(32), WithMaxInFlight(limit, 1<<20),
		// What is fetched before a pause lands is bounded by the fetch
		// size; a small one makes the bound visible against the backlog.
		withFetchBytes(fetchBytes))...)
	if err != nil {
		t.Fatal(err)
	}
	c.cfg.onFetchPause = func(_ string, _ int32, paused bool) {
		if paused {
			pauses.Add(1)
		}
	}
	stop := runConsumer(t, c)
	var maxBuffered, maxInFlight int
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		st := c.Stats()
		buffered := 0
		for _, p := range st.Partitions {
			buffered += p.Buffered
		}
		maxBuffered = max(maxBuffered, buffered)
		maxInFlight = max(maxInFlight, st.InFlightRecords)
		time.Sleep(10 * time.Millisecond)
	}
	st := c.Stats()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("handled %d of %d; peak in flight %d (budget %d), peak in handler %d, peak buffered %d, fetch pauses %d",
		st.Handled, backlog, maxInFlight, st.PeakInFlightRecords, peak.Load(), maxBuffered, pauses.Load())
	if st.PeakInFlightRecords > limit || maxInFlight > limit || peak.Load() > limit {
		t.Fatalf("in flight exceeded %d: budget peak %d, sampled %d, handler peak %d", limit, st.PeakInFlightRecords, maxInFlight, peak.Load())
	}
	if st.PeakInFlightRecords < limit/2 {
		t.Fatalf("budget peak %d: the limit was never approached, test proves nothing", st.PeakInFlightRecords)
	}
	if pauses.Load() == 0 {
		t.Fatal("fetching never paused")
	}
	// What waits between fetch and the budget is bounded by what sarama
	// had fetched when the pause landed: per partition about two fetches
	// (one answered, one in flight) and sarama's channel buffer.
	perFetch := fetchBytes / valueSize
	if bound := 4 * (2*perFetch + 256); maxBuffered > bound {
		t.Fatalf("buffered %d records, bound %d: fetching did not stop", maxBuffered, bound)
	}
	if st.Consumed > st.Handled+int64(limit)+int64(maxBuffered)+1 {
		t.Fatalf("consumed %d but handled %d: records taken beyond in flight + buffered", st.Consumed, st.Handled)
	}
}

// With a byte budget of a few records and values large against it, the
// bytes handed to handlers never exceed the budget, although the workers
// and the record limit would allow far more at once, and every record is
// processed and committed.
func TestByteBudgetBoundsInFlightBytes(t *testing.T) {
	const n, partitions, valueSize, workers = 2000, 4, 1000, 16
	const maxBytes = 8 * valueSize // about 7 records of key + value
	cl := newCluster(t, map[string]int32{"in": partitions})
	value := make([]byte, valueSize)
	produceValues(t, cl, "in", n, func(i int) string { return fmt.Sprintf("k%d", i%100) },
		func(i int) []byte { v := slices.Clone(value); binary.BigEndian.PutUint32(v, uint32(i)); return v })

	var inHandler, peakBytes atomic.Int64
	var handled sync.Map // record number -> struct{}
	h := bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		size := int64(len(msg.Key) + len(msg.Value))
		for _, hd := range msg.Headers {
			size += int64(len(hd.Key) + len(hd.Value))
		}
		cur := inHandler.Add(size)
		defer inHandler.Add(-size)
		for p := peakBytes.Load(); cur > p && !peakBytes.CompareAndSwap(p, cur); p = peakBytes.Load() {
		}
		time.Sleep(2 * time.Millisecond)
		handled.Store(binary.BigEndian.Uint32(msg.Value), struct{}{})
		return nil
	})
	c, err := New(cl.Brokers(), "g-bytes", []string{"in"}, h, fastOpts(cl,
		WithKeyOrdering(workers), WithMaxInFlight(10_000, maxBytes))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	var maxSampled int64
	waitFor(t, 60*time.Second, "all records committed", func() bool {
		maxSampled = max(maxSampled, c.Stats().InFlightBytes)
		return sum(committed(t, cl, "g-bytes", "in")) == n
	})
	st := c.Stats()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	distinct := 0
	handled.Range(func(any, any) bool { distinct++; return true })
	t.Logf("handled %d distinct of %d; peak bytes in handlers %d, sampled in-flight bytes max %d (budget %d), peak records in flight %d",
		distinct, n, peakBytes.Load(), maxSampled, maxBytes, st.PeakInFlightRecords)
	if distinct != n {
		t.Fatalf("%d of %d records handled", distinct, n)
	}
	if peakBytes.Load() > maxBytes || maxSampled > maxBytes {
		t.Fatalf("in-flight bytes exceeded the budget %d: %d in handlers, %d sampled", maxBytes, peakBytes.Load(), maxSampled)
	}
	// Without the byte budget, workers x partitions records could run at
	// once; the budget must have been what held them back, and approached.
	if peakBytes.Load() < maxBytes/2 {
		t.Fatalf("peak %d bytes in handlers: the budget of %d was never approached, test proves nothing", peakBytes.Load(), maxBytes)
	}
	// Each record is more than valueSize bytes.
	if st.PeakInFlightRecords*valueSize >= maxBytes {
		t.Fatalf("%d records in flight at once, the byte budget allows fewer than %d", st.PeakInFlightRecords, maxBytes/valueSize)
	}
}
