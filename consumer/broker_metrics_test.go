package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/saramametrics"
	"github.com/bulwarkgo/bulwark/internal/telemetry/telemetrytest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The member's sarama clients report their broker figures through the
// consumer's meter provider while it runs, and stop when Run returns.
func TestBrokerMetricsWhileRunning(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1})
	produce(t, cl, "in", 3, nil)
	mp, r := telemetrytest.Reader(t)
	c, err := New(cl.Brokers(), "g-broker-metrics", []string{"in"}, newRecorder(nil), fastOpts(cl, WithMeterProvider(mp))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 20*time.Second, "all committed", func() bool { return committed(t, cl, "g-broker-metrics", "in")[0] == 3 })
	requests, received := brokerTotals(t, r)
	if requests == 0 || received == 0 {
		t.Fatalf("requests %d, bytes received %d: want both > 0", requests, received)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if requests, received := brokerTotals(t, r); requests != 0 || received != 0 {
		t.Fatalf("after Run: requests %d, bytes received %d still reported", requests, received)
	}
}

// brokerTotals collects r and adds up the requests and bytes received
// of data points naming a broker.
func brokerTotals(t *testing.T, r *sdkmetric.ManualReader) (requests, received int64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			s, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range s.DataPoints {
				if _, ok := dp.Attributes.Value(saramametrics.AttrBrokerID); !ok {
					continue
				}
				dir, _ := dp.Attributes.Value("network.io.direction")
				switch {
				case m.Name == saramametrics.MetricRequests:
					requests += dp.Value
				case m.Name == saramametrics.MetricIO && dir.AsString() == "receive":
					received += dp.Value
				}
			}
		}
	}
	return requests, received
}
