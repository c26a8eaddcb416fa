package eos

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"github.com/bulwarkgo/bulwark/internal/telemetry/telemetrytest"
)

// A 2 ms commit lands in a bucket at or below 5 ms, and Stats counts it.
func TestDurationHistogramBuckets(t *testing.T) {
	mp, r := telemetrytest.Reader(t)
	in, err := newInstruments(nil, mp, "g", telemetry.Client([]string{"127.0.0.1:9092"}, "test"), new(atomic.Int64))
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	in.committed(3, 1, 2*time.Millisecond, end)
	in.processed(context.Background(), "in", 2*time.Millisecond)
	telemetrytest.AssertDurationBuckets(t, MetricCommitDuration, telemetrytest.Histogram(t, r, MetricCommitDuration))
	telemetrytest.AssertDurationBuckets(t, MetricProcessDuration, telemetrytest.Histogram(t, r, MetricProcessDuration,
		telemetry.MessagingDestinationName.String("in"), telemetry.SystemKafka, telemetry.MessagingOperationName.String("process")))
	s := &Session{inst: in}
	st := s.Stats()
	if st.Commits != 1 || st.RecordsProcessed != 3 || st.DeadLettered != 1 || !st.LastCommit.Equal(end) ||
		st.LastCommitLatency != 2*time.Millisecond {
		t.Fatalf("stats %+v, want 1 commit of 3 records, 1 dead-lettered, at %v taking 2ms", st, end)
	}
}
