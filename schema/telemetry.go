package schema

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// MetricRequestDuration is the duration of each HTTP request the [Client]
// makes to the registry (each attempt, retries included), in seconds with
// buckets of 0.5 ms to 10 s: OpenTelemetry's HTTP client semantic
// convention, with http.request.method, server.address, server.port,
// http.response.status_code and, for a failed request, error.type (the
// status code, or "timeout", "canceled" or "_OTHER" when there was no
// answer). A serde in steady state answers from its cache and makes none.
const MetricRequestDuration = "http.client.request.duration"

// WithMeterProvider sets the meter provider of the client's metrics
// (default: the otel global).
func WithMeterProvider(mp metric.MeterProvider) ClientOption {
	return func(c *clientConfig) error { c.meters = mp; return nil }
}

// clientTelemetry is a registry client's instruments, with the server's
// attributes made once.
type clientTelemetry struct {
	duration metric.Float64Histogram
	server   []attribute.KeyValue
}

func newClientTelemetry(mp metric.MeterProvider, u *url.URL) (*clientTelemetry, error) {
	m := telemetry.MeterProvider(mp).Meter(telemetry.Scope + "/schema")
	d, err := telemetry.DurationHistogram(m, MetricRequestDuration, "Duration of HTTP requests to the schema registry.")
	if err != nil {
		return nil, err
	}
	t := &clientTelemetry{duration: d, server: []attribute.KeyValue{semconv.ServerAddress(u.Hostname())}}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if n, err := strconv.Atoi(port); err == nil {
		t.server = append(t.server, semconv.ServerPort(n))
	}
	return t, nil
}

// request records one HTTP request that began at start and got the answer
// status (0: none) and err.
func (t *clientTelemetry) request(ctx context.Context, method string, start time.Time, status int, err error) {
	attrs := make([]attribute.KeyValue, 0, len(t.server)+3)
	attrs = append(attrs, t.server...)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(method))
	if status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
	}
	switch {
	case status >= 400:
		attrs = append(attrs, telemetry.ErrorType.String(strconv.Itoa(status)))
	case err != nil && status == 0:
		attrs = append(attrs, telemetry.ErrorType.String(transportErrorType(err)))
	}
	t.duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attrs...))
}

// transportErrorType is a low-cardinality error.type for a request that
// got no answer.
func transportErrorType(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return semconv.ErrorTypeOther.Value.AsString()
	}
}
