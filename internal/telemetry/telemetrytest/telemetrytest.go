// Package telemetrytest reads what the feature packages' tests record
// through an OpenTelemetry SDK manual reader.
package telemetrytest

import (
	"context"
	"slices"
	"testing"

	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Reader returns a meter provider and the manual reader it reports to.
func Reader(t testing.TB) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, r
}

// Metric collects r and returns the metric named name; it fails t when
// there is none.
func Metric(t testing.TB, r *sdkmetric.ManualReader, name string) metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

// Histogram returns the data point of the histogram named name whose
// attributes include attrs; it fails t unless there is exactly one.
func Histogram(t testing.TB, r *sdkmetric.ManualReader, name string, attrs ...attribute.KeyValue) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	m := Metric(t, r, name)
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is a %T, want a float histogram", name, m.Data)
	}
	var found []metricdata.HistogramDataPoint[float64]
	for _, dp := range h.DataPoints {
		if slices.ContainsFunc(attrs, func(kv attribute.KeyValue) bool {
			v, ok := dp.Attributes.Value(kv.Key)
			return !ok || v != kv.Value
		}) {
			continue
		}
		found = append(found, dp)
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d data points with %v, want 1", name, len(found), attrs)
	}
	return found[0]
}

// AssertDurationBuckets checks that dp, a duration histogram, has the
// boundaries of [telemetry.DurationBuckets] and that each of its values was
// counted in the bucket holding it: with Max under 5 ms (a 2 ms operation),
// in buckets whose upper bound is at most 5 ms. The SDK's default
// boundaries put anything under 5 s into one bucket.
func AssertDurationBuckets(t testing.TB, name string, dp metricdata.HistogramDataPoint[float64]) {
	t.Helper()
	if !slices.Equal(dp.Bounds, telemetry.DurationBuckets) {
		t.Fatalf("%s: bucket boundaries %v, want %v", name, dp.Bounds, telemetry.DurationBuckets)
	}
	if dp.Count == 0 {
		t.Fatalf("%s: nothing recorded", name)
	}
	mx, ok := dp.Max.Value()
	if !ok {
		t.Fatalf("%s: no max", name)
	}
	mn, _ := dp.Min.Value()
	// Bucket i counts values in (Bounds[i-1], Bounds[i]].
	var counted uint64
	for i, n := range dp.BucketCounts {
		if n == 0 {
			continue
		}
		counted += n
		lower, upper := 0.0, 1e300
		if i > 0 {
			lower = dp.Bounds[i-1]
		}
		if i < len(dp.Bounds) {
			upper = dp.Bounds[i]
		}
		if upper < mn || lower >= mx {
			t.Fatalf("%s: %d values in bucket (%v, %v], outside [min %v, max %v]", name, n, lower, upper, mn, mx)
		}
		if mx < 0.005 && upper > 0.005 {
			t.Fatalf("%s: values of at most %v s counted in bucket (%v, %v], want one at or below 5 ms", name, mx, lower, upper)
		}
	}
	if counted != dp.Count {
		t.Fatalf("%s: buckets count %d values, the data point %d", name, counted, dp.Count)
	}
}
