package saramametrics_test

import (
	"context"
	"testing"

	"github.com/bulwarkgo/bulwark/internal/saramametrics"
	"github.com/bulwarkgo/bulwark/internal/telemetry/telemetrytest"
	"github.com/rcrowley/go-metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// sarama unregisters a broker's metrics when its connection closes and
// registers them again on reconnecting; the totals carry on.
func TestTotalsSurviveReconnects(t *testing.T) {
	reg := saramametrics.NewRegistry()
	metrics.GetOrRegisterMeter("outgoing-byte-rate-for-broker-2", reg).Mark(100)
	metrics.GetOrRegisterHistogram("request-latency-in-ms-for-broker-2", reg, nil).Update(7)
	reg.Unregister("outgoing-byte-rate-for-broker-2")
	reg.UnregisterAll()
	metrics.GetOrRegisterMeter("outgoing-byte-rate-for-broker-2", reg).Mark(20)
	metrics.GetOrRegisterHistogram("request-latency-in-ms-for-broker-2", reg, nil).Update(3)
	assert.Equal(t, int64(120), reg.Get("outgoing-byte-rate-for-broker-2").(metrics.Meter).Count())
	h := reg.Get("request-latency-in-ms-for-broker-2").(metrics.Histogram)
	assert.Equal(t, int64(2), h.Count())
	assert.Equal(t, int64(10), h.Sum())
}

// What the bridge does not read costs nothing: no meter joins
// go-metrics' arbiter, no sample is kept.
func TestOtherMetricsDoNothing(t *testing.T) {
	reg := saramametrics.NewRegistry()
	assert.IsType(t, metrics.NilMeter{}, metrics.GetOrRegisterMeter("request-rate", reg))
	assert.IsType(t, metrics.NilCounter{}, metrics.GetOrRegisterCounter("requests-in-flight", reg))
	assert.IsType(t, metrics.NilGauge{}, metrics.GetOrRegisterGauge("consumer-batch-size", reg))
	assert.IsType(t, metrics.NilMeter{}, metrics.GetOrRegisterMeter("protocol-requests-rate-0-for-broker-1", reg))
	assert.IsType(t, metrics.NilMeter{}, metrics.GetOrRegisterMeter("record-send-rate-for-topic-t", reg))
	assert.Nil(t, reg.Get("request-rate"))
}

func TestBridgeReportsEachBrokerUntilStopped(t *testing.T) {
	mp, r := telemetrytest.Reader(t)
	reg := saramametrics.NewRegistry()
	client := []attribute.KeyValue{attribute.String("messaging.client.id", "c"), attribute.String("server.address", "bootstrap")}
	stop, err := saramametrics.Bridge(reg, mp, client, func() map[int32]string { return map[int32]string{1: "k1:9092"} })
	require.NoError(t, err)
	metrics.GetOrRegisterMeter("request-rate-for-broker-1", reg).Mark(2)
	metrics.GetOrRegisterMeter("request-rate-for-broker-3", reg).Mark(5)
	metrics.GetOrRegisterCounter("requests-in-flight-for-broker-3", reg).Inc(1)
	metrics.GetOrRegisterHistogram("throttle-time-in-ms-for-broker-3", reg, nil).Update(1500)

	sum := telemetrytest.Metric(t, r, saramametrics.MetricRequests).Data.(metricdata.Sum[int64])
	assert.True(t, sum.IsMonotonic)
	byBroker := map[int64]metricdata.DataPoint[int64]{}
	for _, dp := range sum.DataPoints {
		id, _ := dp.Attributes.Value(saramametrics.AttrBrokerID)
		byBroker[id.AsInt64()] = dp
	}
	require.Len(t, byBroker, 2)
	assert.Equal(t, int64(2), byBroker[1].Value)
	assert.Equal(t, int64(5), byBroker[3].Value)
	one, three := byBroker[1].Attributes, byBroker[3].Attributes
	addr, _ := one.Value("server.address")
	assert.Equal(t, "k1", addr.AsString(), "the broker's own address, not the bootstrap one")
	port, _ := one.Value("server.port")
	assert.Equal(t, int64(9092), port.AsInt64())
	_, ok := three.Value("server.address")
	assert.False(t, ok, "no address for a broker the client does not know")
	id, _ := three.Value("messaging.client.id")
	assert.Equal(t, "c", id.AsString())

	throttle := telemetrytest.Metric(t, r, saramametrics.MetricThrottleTime).Data.(metricdata.Sum[float64])
	for _, dp := range throttle.DataPoints {
		if id, _ := dp.Attributes.Value(saramametrics.AttrBrokerID); id.AsInt64() == 3 {
			assert.InDelta(t, 1.5, dp.Value, 1e-9, "seconds")
		}
	}
	active := telemetrytest.Metric(t, r, saramametrics.MetricActiveRequests).Data.(metricdata.Sum[int64])
	assert.False(t, active.IsMonotonic)

	stop()
	stop() // idempotent
	metrics.GetOrRegisterMeter("request-rate-for-broker-1", reg).Mark(1)
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				assert.Empty(t, s.DataPoints, m.Name)
			}
		}
	}
}

// A registry of the user's own (set through a sarama escape hatch) is
// left alone.
func TestBridgeLeavesOtherRegistriesAlone(t *testing.T) {
	mp, r := telemetrytest.Reader(t)
	reg := metrics.NewRegistry()
	stop, err := saramametrics.Bridge(reg, mp, nil, nil)
	require.NoError(t, err)
	defer stop()
	metrics.GetOrRegisterMeter("request-rate-for-broker-1", reg).Mark(2)
	defer reg.UnregisterAll() // stops the meter
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	assert.Empty(t, rm.ScopeMetrics)
}
