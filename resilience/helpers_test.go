package resilience_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

var errDown = errors.New("downstream down")

// counted is a handler that counts its calls and returns what fn returns.
type counted struct {
	calls atomic.Int64
	fn    func(ctx context.Context, call int64) error
}

func (c *counted) Handle(ctx context.Context, _ *bulwark.Message) error {
	n := c.calls.Add(1)
	if c.fn == nil {
		return nil
	}
	return c.fn(ctx, n)
}

func failing(err error) *counted {
	return &counted{fn: func(context.Context, int64) error { return err }}
}

func call(h bulwark.Handler) error { return h.Handle(context.Background(), &bulwark.Message{}) }

// metrics is a meter provider whose recordings the test can read.
type metrics struct {
	reader   *sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
}

func newMetrics(t *testing.T) *metrics {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return &metrics{reader: r, provider: mp}
}

// value returns the value of a counter or up-down counter, the last value
// of a gauge or the count of a histogram, for the data point whose
// attributes include want; ok is false when there is none.
func (m *metrics) value(t *testing.T, name string, want ...attribute.KeyValue) (float64, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	match := func(set attribute.Set) bool {
		for _, kv := range want {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != name {
				continue
			}
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						return float64(p.Value), true
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						return float64(p.Value), true
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						return float64(p.Count), true
					}
				}
			}
		}
	}
	return 0, false
}

var nameAttr = attribute.Key("bulwark.resilience.name")
