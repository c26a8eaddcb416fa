package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// With a known backlog and the handler held on the first record (so that
// fetching pauses at the in-flight limit), Stats and the lag gauge report
// the records not yet taken: the high watermark minus the next offset,
// which is most of the backlog (what is taken is bounded by the budget,
// a run held for it, and, while the handler is stuck, what sarama had
// buffered and the watcher read). Once the handler is released and the
// backlog drained, both report 0.
func TestLagReportsBacklogThenZero(t *testing.T) {
	const n = 3000
	cl := newCluster(t, map[string]int32{"in": 1})
	value := make([]byte, 500)
	produceValues(t, cl, "in", n, nil, func(int) []byte { return value })

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	lagGauge := func() int64 {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		return gaugeOf(t, rm, MetricLag,
			telemetry.MessagingDestinationName.String("in"), telemetry.MessagingDestinationPart.String("0"))
	}

	held, release := make(chan struct{}), make(chan struct{})
	h := bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		if msg.Offset == 0 {
			close(held)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	c, err := New(cl.Brokers(), "g-lag", []string{"in"}, h, fastOpts(cl, WithMeterProvider(mp),
		// A small budget and fetch size: fetching pauses after taking a
		// few records, leaving the rest of the backlog on the broker.
		WithMaxInFlight(10, 1<<20), withFetchBytes(4<<10))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the first record never reached the handler")
	}
	// Wait until fetching paused and the partition's figures stopped
	// moving.
	var p PartitionStats
	waitFor(t, 10*time.Second, "fetching paused with a stable lag", func() bool {
		before := c.Stats().Partitions
		time.Sleep(200 * time.Millisecond)
		after := c.Stats().Partitions
		if len(before) != 1 || len(after) != 1 {
			return false
		}
		p = after[0]
		return p.Paused && p.Lag == before[0].Lag && p.NextOffset == before[0].NextOffset
	})
	gauge := lagGauge()
	t.Logf("held: next offset %d, lag %d (gauge %d), in flight %d, buffered %d, committed %d",
		p.NextOffset, p.Lag, gauge, p.InFlight, p.Buffered, p.Committed)
	if p.NextOffset+p.Lag != n {
		t.Fatalf("next offset %d + lag %d = %d, want the high watermark %d", p.NextOffset, p.Lag, p.NextOffset+p.Lag, n)
	}
	if taken := int64(p.InFlight + p.Buffered); taken != p.NextOffset {
		t.Fatalf("in flight %d + buffered %d = %d, but %d records were taken and none finished",
			p.InFlight, p.Buffered, taken, p.NextOffset)
	}
	if p.Lag < n/2 {
		t.Fatalf("lag %d with the handler held on the first of %d records, want most of the backlog", p.Lag, n)
	}
	if gauge != p.Lag {
		t.Fatalf("lag gauge %d, Stats lag %d", gauge, p.Lag)
	}
	if p.Committed > 0 {
		t.Fatalf("committed %d while the first record is unfinished", p.Committed)
	}

	close(release)
	waitFor(t, 30*time.Second, "the backlog committed", func() bool { return committed(t, cl, "g-lag", "in")[0] == n })
	waitFor(t, 5*time.Second, "lag 0", func() bool {
		ps := c.Stats().Partitions
		return len(ps) == 1 && ps[0].Lag == 0 && ps[0].NextOffset == n
	})
	if gauge := lagGauge(); gauge != 0 {
		t.Fatalf("lag gauge %d once drained, want 0", gauge)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
