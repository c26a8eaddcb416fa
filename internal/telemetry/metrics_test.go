package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"github.com/bulwarkgo/bulwark/internal/telemetry/telemetrytest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
)

// The names and units the packages emit are semconv's.
func TestMessagingMetricNamesAreSemconvs(t *testing.T) {
	for _, tc := range []struct{ ours, name, unit, wantUnit string }{
		{telemetry.MetricSentMessages, messagingconv.ClientSentMessages{}.Name(), messagingconv.ClientSentMessages{}.Unit(), "{message}"},
		{telemetry.MetricConsumedMessages, messagingconv.ClientConsumedMessages{}.Name(), messagingconv.ClientConsumedMessages{}.Unit(), "{message}"},
		{telemetry.MetricOperationDuration, messagingconv.ClientOperationDuration{}.Name(), messagingconv.ClientOperationDuration{}.Unit(), "s"},
		{telemetry.MetricProcessDuration, messagingconv.ProcessDuration{}.Name(), messagingconv.ProcessDuration{}.Unit(), "s"},
	} {
		if tc.ours != tc.name || tc.unit != tc.wantUnit {
			t.Errorf("%s (unit %s), semconv has %s (unit %s)", tc.ours, tc.wantUnit, tc.name, tc.unit)
		}
	}
}

func TestDurationHistogramPutsTwoMillisecondsBelowFive(t *testing.T) {
	mp, r := telemetrytest.Reader(t)
	h, err := telemetry.DurationHistogram(mp.Meter("test"), "d", "test")
	if err != nil {
		t.Fatal(err)
	}
	h.Record(context.Background(), (2 * time.Millisecond).Seconds())
	dp := telemetrytest.Histogram(t, r, "d")
	telemetrytest.AssertDurationBuckets(t, "d", dp)
	if dp.BucketCounts[2] != 1 || dp.Bounds[1] != 0.001 || dp.Bounds[2] != 0.0025 {
		t.Fatalf("counts %v over %v: 2 ms not in (1 ms, 2.5 ms]", dp.BucketCounts, dp.Bounds)
	}
	if _, err := telemetry.DurationHistogram(noop.NewMeterProvider().Meter("x"), "d", ""); err != nil {
		t.Fatal(err)
	}
}

func TestClientAttributes(t *testing.T) {
	got := attribute.NewSet(telemetry.Client([]string{"kafka-1:9092", "kafka-2:9092"}, "orders")...)
	want := attribute.NewSet(
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.client.id", "orders"),
		attribute.String("server.address", "kafka-1"),
		attribute.Int("server.port", 9092),
	)
	if !got.Equals(&want) {
		t.Fatalf("attributes %v, want %v", got.Encoded(attribute.DefaultEncoder()), want.Encoded(attribute.DefaultEncoder()))
	}
	noPort := attribute.NewSet(telemetry.Client([]string{"kafka"}, "")...)
	if v, _ := noPort.Value("server.address"); v.AsString() != "kafka" || noPort.Len() != 2 {
		t.Fatalf("attributes %v", noPort.Encoded(attribute.DefaultEncoder()))
	}
}

func TestOperationTypes(t *testing.T) {
	for name, typ := range map[string]string{"send": "send", "poll": "receive", "process": "process", "commit": "settle"} {
		set := attribute.NewSet(telemetry.Operation(name)...)
		if v, _ := set.Value("messaging.operation.type"); v.AsString() != typ {
			t.Errorf("%s: type %q, want %q", name, v.AsString(), typ)
		}
	}
}
