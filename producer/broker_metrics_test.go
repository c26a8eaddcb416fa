package producer_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramametrics"
	"github.com/bulwarkgo/bulwark/internal/telemetry/telemetrytest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

var bridged = []string{
	saramametrics.MetricRequests, saramametrics.MetricResponses, saramametrics.MetricRequestTime,
	saramametrics.MetricIO, saramametrics.MetricThrottleTime, saramametrics.MetricActiveRequests,
}

// TestBrokerMetricsBridged sends a record whose produce request the
// cluster holds for a moment (so its latency is at least 1 ms, sarama's
// resolution) and reads sarama's broker figures through the meter
// provider; once the producer is closed they are no longer reported.
func TestBrokerMetricsBridged(t *testing.T) {
	const topic = "broker-metrics"
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	mp, r := telemetrytest.Reader(t)
	p, err := producer.New(c.Brokers(), producer.WithMeterProvider(mp), producer.WithConnection(conn.WithClientID("bridge-test")))
	require.NoError(t, err)
	defer p.Close()

	arrived, release := c.HoldNext(kafkatest.Produce)
	defer release()
	sent := make(chan error, 1)
	go func() {
		_, err := p.Send(ctxFor(t, 30*time.Second), &bulwark.Message{Topic: topic, Value: []byte("v")})
		sent <- err
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the produce request never arrived")
	}
	time.Sleep(5 * time.Millisecond) // the held request's latency
	release()
	require.NoError(t, <-sent)

	host, _, err := net.SplitHostPort(c.Brokers()[0])
	require.NoError(t, err)
	points := brokerPoints(t, r)
	for _, name := range bridged {
		require.NotEmpty(t, points[name], name)
		for _, dp := range points[name] {
			v, ok := dp.attrs.Value(saramametrics.AttrBrokerID)
			assert.True(t, ok, "%s: broker ID", name)
			assert.GreaterOrEqual(t, v.AsInt64(), int64(0), name)
			v, _ = dp.attrs.Value("server.address")
			assert.Equal(t, host, v.AsString(), name)
			v, _ = dp.attrs.Value("messaging.client.id")
			assert.Equal(t, "bridge-test", v.AsString(), name)
			v, _ = dp.attrs.Value("messaging.system")
			assert.Equal(t, "kafka", v.AsString(), name)
		}
	}
	assert.Positive(t, total(points[saramametrics.MetricRequests], ""), "requests")
	assert.Positive(t, total(points[saramametrics.MetricResponses], ""), "responses")
	assert.GreaterOrEqual(t, total(points[saramametrics.MetricRequestTime], ""), 0.005, "request time of the held request")
	assert.Positive(t, total(points[saramametrics.MetricIO], "transmit"), "bytes sent")
	assert.Positive(t, total(points[saramametrics.MetricIO], "receive"), "bytes received")
	assert.Zero(t, total(points[saramametrics.MetricActiveRequests], ""), "no request awaits an answer")

	// Closed: the callback is gone, and with it every bridged data point
	// (none is left behind at its last value).
	require.NoError(t, p.Close())
	for name, dps := range brokerPoints(t, r) {
		assert.Empty(t, dps, "%s after Close", name)
	}
}

type point struct {
	attrs attribute.Set
	value float64
}

// brokerPoints collects r and returns the data points of the bridged
// metrics by name.
func brokerPoints(t *testing.T, r *sdkmetric.ManualReader) map[string][]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	points := map[string][]point{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					points[m.Name] = append(points[m.Name], point{dp.Attributes, float64(dp.Value)})
				}
			case metricdata.Sum[float64]:
				for _, dp := range d.DataPoints {
					points[m.Name] = append(points[m.Name], point{dp.Attributes, dp.Value})
				}
			}
		}
	}
	for name := range points {
		if !slices.Contains(bridged, name) {
			delete(points, name)
		}
	}
	return points
}

// total adds up the values of dps, of those with network.io.direction
// direction when it is not empty.
func total(dps []point, direction string) float64 {
	var sum float64
	for _, dp := range dps {
		if v, _ := dp.attrs.Value("network.io.direction"); direction != "" && v.AsString() != direction {
			continue
		}
		sum += dp.value
	}
	return sum
}

// The names and labels a Prometheus server scrapes of the broker
// figures: units become suffixes (By: _bytes, s: _seconds), counters end
// in _total.
func TestBrokerMetricsPrometheusNames(t *testing.T) {
	const topic = "broker-metrics-prom"
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	p := newProducer(t, c, producer.WithMeterProvider(mp))
	_, err = p.Send(ctxFor(t, 30*time.Second), &bulwark.Message{Topic: topic, Value: []byte("v")})
	require.NoError(t, err)

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	text := rec.Body.String()
	broker := `bulwark_kafka_broker_id="[0-9]+"[^}]*messaging_client_id="bulwark",messaging_system="kafka"[^}]*server_address="127\.0\.0\.1",server_port="[0-9]+"`
	for _, re := range []string{
		`(?m)^# TYPE bulwark_kafka_broker_requests_total counter$`,
		`(?m)^bulwark_kafka_broker_requests_total\{` + broker + `[^}]*\} [1-9]`,
		`(?m)^bulwark_kafka_broker_responses_total\{` + broker + `[^}]*\} [1-9]`,
		`(?m)^# TYPE bulwark_kafka_broker_request_time_seconds_total counter$`,
		`(?m)^# TYPE bulwark_kafka_broker_throttle_time_seconds_total counter$`,
		`(?m)^bulwark_kafka_broker_io_bytes_total\{` + broker + `[^}]*\} [1-9]`,
		`(?m)^bulwark_kafka_broker_io_bytes_total\{[^}]*network_io_direction="receive"[^}]*\} [1-9]`,
		`(?m)^bulwark_kafka_broker_io_bytes_total\{[^}]*network_io_direction="transmit"[^}]*\} [1-9]`,
		`(?m)^# TYPE bulwark_kafka_broker_active_requests gauge$`,
	} {
		assert.Regexp(t, re, text)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("scraped:\n%s", text)
	}
}
