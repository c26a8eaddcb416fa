package consumer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The offset rows of the fault matrix (issue 17): input written by a
// transactional producer, and commit traffic with many partitions.
func TestFaultMatrixOffsets(t *testing.T) {
	t.Run("transactional input with aborts", testTransactionalInput(true))
	t.Run("transactional input with aborts, read_uncommitted", testTransactionalInput(false))
	t.Run("commit traffic, 6 partitions one member", testCommitTraffic)
}

// A consumer of a topic written by a transactional producer, caught up,
// has committed every partition to its end (the last stable offset: past
// the last marker), including the partition whose records were all
// aborted, and reports lag 0 in Stats and the lag gauge; it handled every
// committed record once and no aborted one. A second round of
// transactions, written while it runs, ends the same way. Read
// uncommitted, it handles the aborted records too (once each) and commits
// past the markers all the same.
func testTransactionalInput(readCommitted bool) func(*testing.T) {
	return func(t *testing.T) { transactionalInput(t, readCommitted) }
}

func transactionalInput(t *testing.T, readCommitted bool) {
	cell := faultmatrix.Cell{
		Fault:     "transactional input with aborts (3 partitions, one only aborted)",
		Component: "consumer",
		Bound:     "caught up (committed = end offsets) within 20 s of each round",
		Outcome:   "committed offsets = end offsets on every partition, lag 0 (Stats and gauge)",
		Records:   "every committed record handled once, 0 aborted handled, 0 dead-lettered",
	}
	if !readCommitted {
		cell.Fault += ", read_uncommitted"
		cell.Records = "every record, aborted ones too, handled once, 0 dead-lettered"
	}
	faultmatrix.Report(t, cell)
	const group = "g-txn-input"
	cl := newCluster(t, map[string]int32{"in": 3})
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	rec := newRecorder(nil)
	c, err := New(cl.Brokers(), group, []string{"in"}, rec, fastOpts(cl, WithMeterProvider(mp), WithReadCommitted(readCommitted))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	var want []string
	for round := range 2 {
		txns := kafkatest.MixedTransactions(fmt.Sprint(round))
		if err := cl.WriteTransactions(ctx, "in", "producer-of-in", txns); err != nil {
			t.Fatal(err)
		}
		if readCommitted {
			want = append(want, kafkatest.CommittedValues(txns)...)
		} else {
			for _, txn := range txns {
				for _, vs := range txn.Records {
					want = append(want, vs...)
				}
			}
		}
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		ends, err := cl.WaitCaughtUp(wctx, group, "in")
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: committed %v = end offsets after %v", round, ends, time.Since(start).Round(time.Millisecond))
		waitFor(t, 5*time.Second, "lag 0 in Stats", func() bool {
			ps := c.Stats().Partitions
			if len(ps) != 3 {
				return false
			}
			for _, p := range ps {
				if p.Lag != 0 || p.Committed != ends[p.Partition] || p.NextOffset != ends[p.Partition] {
					return false
				}
			}
			return true
		})
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		for p := range int32(3) {
			if lag := gaugeOf(t, rm, MetricLag, telemetry.MessagingDestinationPart.String(fmt.Sprint(p))); lag != 0 {
				t.Fatalf("round %d: lag gauge of partition %d = %d once caught up, want 0", round, p, lag)
			}
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, v := range want {
		if n := rec.seen[v]; n != 1 {
			t.Errorf("record %s handled %d times, want once", v, n)
		}
	}
	for v := range rec.seen {
		if readCommitted && strings.HasPrefix(v, "a") {
			t.Errorf("aborted record %s was handled", v)
		}
	}
	if len(rec.seen) != len(want) {
		t.Errorf("handled %d distinct records, want %d", len(rec.seen), len(want))
	}
	if st := c.Stats(); st.DeadLettered != 0 || st.Failed != 0 {
		t.Errorf("dead-lettered %d, failed %d; want 0", st.DeadLettered, st.Failed)
	}
}

// commitRequests counts the OffsetCommit requests of group that reach
// the cluster, and the partitions each carried.
type commitRequests struct {
	mu    sync.Mutex
	sizes []int
}

func watchCommits(cl *kafkatest.Cluster, group string) *commitRequests {
	cr := &commitRequests{}
	cl.Kfake().ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.OffsetCommitRequest)
		if r.Group == group {
			n := 0
			for _, tp := range r.Topics {
				n += len(tp.Partitions)
			}
			cr.mu.Lock()
			cr.sizes = append(cr.sizes, n)
			cr.mu.Unlock()
		}
		return nil, nil, false // observe only; the cluster handles it
	})
	return cr
}

func (cr *commitRequests) snapshot() []int {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	return append([]int(nil), cr.sizes...)
}

// With one member owning 6 partitions and records arriving on all of them
// all the time, each commit interval sends one OffsetCommit request
// carrying every partition with progress, not one request per partition:
// the requests the broker sees are no more than the commit ticks in the
// time, requests carry several partitions, and Stats.Commits counts
// exactly the requests sent.
func testCommitTraffic(t *testing.T) {
	const (
		group      = "g-commit-traffic"
		partitions = 6
		interval   = 250 * time.Millisecond
		window     = 3 * time.Second
	)
	faultmatrix.Report(t, faultmatrix.Cell{
		Fault:     "6 partitions, one member, records on all of them",
		Component: "consumer",
		Bound:     fmt.Sprintf("OffsetCommit requests <= commit ticks (%v interval) over %v", interval, window),
		Outcome:   "one OffsetCommit request per tick for all partitions with progress; Stats.Commits = requests the broker saw",
		Records:   "every record committed",
	})
	cl := newCluster(t, map[string]int32{"in": partitions})
	ctx := context.Background()
	rec := newRecorder(nil)
	c, err := New(cl.Brokers(), group, []string{"in"}, rec, fastOpts(cl, WithCommitInterval(interval))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 20*time.Second, "6 partitions assigned", func() bool { return len(c.Stats().Partitions) == partitions })

	client, err := kgo.NewClient(kgo.SeedBrokers(cl.Brokers()...), kgo.DefaultProduceTopic("in"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	produced := 0
	produceRound := func() {
		var recs []*kgo.Record
		for p := range int32(partitions) {
			recs = append(recs, &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("r%d-p%d", produced, p))})
		}
		if err := client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		produced++
	}
	// Everything before the window committed, so that the window's
	// requests are the window's own.
	// committedByConsumer is the sum of the offsets the consumer knows
	// committed: the answer to its last request has been counted (the
	// broker shows a commit before it answers).
	committedByConsumer := func() int64 {
		var n int64
		for _, p := range c.Stats().Partitions {
			n += p.Committed
		}
		return n
	}
	produceRound()
	waitFor(t, 20*time.Second, "the first round committed", func() bool { return committedByConsumer() == partitions })
	watch := watchCommits(cl, group)
	before := c.Stats().Commits
	start := time.Now()
	for time.Since(start) < window {
		produceRound()
		time.Sleep(40 * time.Millisecond)
	}
	waitFor(t, 20*time.Second, "every record committed", func() bool { return committedByConsumer() == int64(produced*partitions) })
	elapsed := time.Since(start)
	if n := sum(committed(t, cl, group, "in")); n != int64(produced*partitions) {
		t.Fatalf("the broker has %d records committed, the consumer says %d", n, produced*partitions)
	}
	sizes := watch.snapshot()
	sent := c.Stats().Commits - before
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A ticker fires at most elapsed/interval + 1 times in the window, and
	// one tick from before it may be taken late (the loop was busy): one
	// request per tick allows that many; one per partition would be about
	// six times as many.
	ticks := int(elapsed/interval) + 2
	full, most := 0, 0
	for _, n := range sizes {
		most = max(most, n)
		if n == partitions {
			full++
		}
	}
	t.Logf("%d records on %d partitions in %v: %d OffsetCommit requests (at most %d ticks), %d with all partitions; sizes %v",
		produced*partitions, partitions, elapsed.Round(time.Millisecond), len(sizes), ticks, full, sizes)
	if len(sizes) > ticks {
		t.Fatalf("%d OffsetCommit requests in %v, more than the %d commit ticks: partitions are committed apart", len(sizes), elapsed, ticks)
	}
	if most < 2 {
		t.Fatalf("no OffsetCommit request carried more than one partition: %v", sizes)
	}
	if sent != int64(len(sizes)) {
		t.Fatalf("Stats.Commits grew by %d, the broker saw %d requests", sent, len(sizes))
	}
}
