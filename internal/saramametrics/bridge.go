package saramametrics

import (
	"context"
	"errors"
	"sync"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"github.com/rcrowley/go-metrics"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// The bridged instruments, as package conn documents them.
const (
	MetricRequests       = conn.MetricBrokerRequests
	MetricResponses      = conn.MetricBrokerResponses
	MetricRequestTime    = conn.MetricBrokerRequestTime
	MetricIO             = conn.MetricBrokerIO
	MetricThrottleTime   = conn.MetricBrokerThrottleTime
	MetricActiveRequests = conn.MetricBrokerActiveRequests
)

// AttrBrokerID is the attribute naming the broker by its node ID, as
// sarama knows it.
const AttrBrokerID = attribute.Key(conn.AttrBrokerID)

// Addresses returns the address ("host:port") of each broker the client
// knows, by ID (from a sarama client's Brokers, which opens nothing).
type Addresses func() map[int32]string

// Bridge reports the figures of reg, when it is a [*Registry], through
// observable instruments of mp (the otel global when nil), read at
// collection time: no goroutine, no polling. attrs name the client (see
// [telemetry.Client]; server.* there name the bootstrap broker and are
// replaced by the broker's own); addrs may be nil. stop unregisters the
// callback (idempotent): call it when the clients reading reg are
// closed; data points of reg stop being reported then. For any other
// registry (a user's own through the sarama escape hatch) Bridge does
// nothing and stop is a no-op.
func Bridge(reg metrics.Registry, mp metric.MeterProvider, attrs []attribute.KeyValue, addrs Addresses) (stop func(), err error) {
	r, ok := reg.(*Registry)
	if !ok {
		return func() {}, nil
	}
	m := telemetry.MeterProvider(mp).Meter(telemetry.Scope)
	var base []attribute.KeyValue
	for _, kv := range attrs {
		if kv.Key != telemetry.ServerAddress && kv.Key != telemetry.ServerPort {
			base = append(base, kv)
		}
	}
	requests, err1 := m.Int64ObservableCounter(MetricRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Requests sent to the broker."))
	responses, err2 := m.Int64ObservableCounter(MetricResponses, metric.WithUnit("{response}"),
		metric.WithDescription("Responses read from the broker."))
	reqTime, err3 := m.Float64ObservableCounter(MetricRequestTime, metric.WithUnit("s"),
		metric.WithDescription("Time from sending requests to reading their responses, added up."))
	io, err4 := m.Int64ObservableCounter(MetricIO, metric.WithUnit("By"),
		metric.WithDescription("Bytes sent to and received from the broker."))
	throttle, err5 := m.Float64ObservableCounter(MetricThrottleTime, metric.WithUnit("s"),
		metric.WithDescription("Throttle time the broker asked for, added up."))
	active, err6 := m.Int64ObservableUpDownCounter(MetricActiveRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Requests awaiting their response."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return nil, err
	}
	transmit := metric.WithAttributes(semconv.NetworkIODirectionTransmit)
	receive := metric.WithAttributes(semconv.NetworkIODirectionReceive)
	reg2, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		var known map[int32]string
		if addrs != nil {
			known = addrs()
		}
		r.each(func(id int32, b *brokerFigures) {
			set := metric.WithAttributes(brokerAttrs(base, id, known[id])...)
			o.ObserveInt64(requests, b.requests.Count(), set)
			o.ObserveInt64(responses, b.responses.Count(), set)
			o.ObserveFloat64(reqTime, float64(b.latency.Sum())/1000, set)
			o.ObserveInt64(io, b.sent.Count(), set, transmit)
			o.ObserveInt64(io, b.received.Count(), set, receive)
			o.ObserveFloat64(throttle, float64(b.throttle.Sum())/1000, set)
			o.ObserveInt64(active, b.inFlight.Count(), set)
		})
		return nil
	}, requests, responses, reqTime, io, throttle, active)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { _ = reg2.Unregister() }) }, nil
}

// brokerAttrs returns base with the broker's ID and, when known, address.
func brokerAttrs(base []attribute.KeyValue, id int32, addr string) []attribute.KeyValue {
	attrs := append(base[:len(base):len(base)], AttrBrokerID.Int(int(id)))
	if addr != "" {
		attrs = append(attrs, telemetry.Server(addr)...)
	}
	return attrs
}
