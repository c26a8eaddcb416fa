package producer

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/telemetry/telemetrytest"
)

// A 2 ms send or transaction lands in a bucket at or below 5 ms.
func TestDurationHistogramBuckets(t *testing.T) {
	mp, r := telemetrytest.Reader(t)
	in, err := newInstruments(nil, mp, []string{"127.0.0.1:9092"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	twoMs := (2 * time.Millisecond).Seconds()
	in.duration.Record(ctx, twoMs, in.topic("t").recordOpts...)
	in.txnDuration.Record(ctx, twoMs)
	for _, name := range []string{MetricSendDuration, MetricTxnDuration} {
		telemetrytest.AssertDurationBuckets(t, name, telemetrytest.Histogram(t, r, name))
	}
}
