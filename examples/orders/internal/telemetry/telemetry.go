// Package telemetry wires the pipeline's metrics: one OpenTelemetry meter
// provider that every bulwark component is given, exported for Prometheus
// scraping (GET /metrics) and readable in-process for the run's summary.
package telemetry

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Metrics is the meter provider and its two readers.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
	manual   *sdkmetric.ManualReader
}

// New sets up the provider.
func New() (*Metrics, error) {
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, err
	}
	manual := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithReader(manual))
	return &Metrics{provider: provider, registry: registry, manual: manual}, nil
}

// Provider is what components get through their WithMeterProvider option.
func (m *Metrics) Provider() metric.MeterProvider { return m.provider }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Shutdown stops the provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }

// Sum returns the total of the counter (or up-down counter) name over the
// data points whose attributes include every key=value in match.
func (m *Metrics) Sum(ctx context.Context, name string, match ...attribute.KeyValue) (float64, error) {
	var rm metricdata.ResourceMetrics
	if err := m.manual.Collect(ctx, &rm); err != nil {
		return 0, err
	}
	var total float64
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != name {
				continue
			}
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					if matches(dp.Attributes, match) {
						total += float64(dp.Value)
					}
				}
			case metricdata.Sum[float64]:
				for _, dp := range d.DataPoints {
					if matches(dp.Attributes, match) {
						total += dp.Value
					}
				}
			}
		}
	}
	return total, nil
}

func matches(set attribute.Set, match []attribute.KeyValue) bool {
	for _, kv := range match {
		v, ok := set.Value(kv.Key)
		if !ok || v != kv.Value {
			return false
		}
	}
	return true
}
