package saramametrics

import (
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/rcrowley/go-metrics"
)

// The sarama metric names the bridge reads, without the
// "-for-broker-<id>" suffix sarama adds to a broker's own copy.
const (
	saramaRequests = "request-rate"
	saramaResponse = "response-rate"
	saramaSent     = "outgoing-byte-rate"
	saramaReceived = "incoming-byte-rate"
	saramaLatency  = "request-latency-in-ms"
	saramaThrottle = "throttle-time-in-ms"
	saramaInFlight = "requests-in-flight"
	brokerSuffix   = "-for-broker-"
)

// Registry is a go-metrics registry for sarama.Config.MetricRegistry. It
// keeps exact totals of the per-broker figures the bridge reports (see
// [Bridge]) and hands sarama do-nothing metrics for everything else
// (client-wide aggregates, per-topic producer figures, compression
// ratios, consumer-group counters): nothing reads those, and go-metrics'
// own would cost CPU on every request and every 5 s for nobody.
//
// One Registry serves every client made from one config (a consumer
// group's member and commit clients add up). The figures of a broker
// outlive its connection: sarama unregisters a broker's metrics when the
// connection closes and registers them anew when it reconnects, which
// would reset every total; the Registry ignores those unregistrations,
// so totals only grow. It holds a few counters per broker ID for as long
// as the config lives.
type Registry struct {
	mu      sync.Mutex
	brokers map[int32]*brokerFigures
}

// brokerFigures are one broker's totals.
type brokerFigures struct {
	requests, responses, sent, received total
	latency, throttle                   sumHistogram
	inFlight                            level
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{brokers: map[int32]*brokerFigures{}} }

// figure returns the metric sarama registers under name, when it is one
// the bridge reads.
func (r *Registry) figure(name string) (any, bool) {
	i := strings.LastIndex(name, brokerSuffix)
	if i < 0 {
		return nil, false
	}
	id, err := strconv.ParseInt(name[i+len(brokerSuffix):], 10, 32)
	if err != nil {
		return nil, false
	}
	base := name[:i]
	switch base {
	case saramaRequests, saramaResponse, saramaSent, saramaReceived, saramaLatency, saramaThrottle, saramaInFlight:
	default:
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.brokers[int32(id)]
	if b == nil {
		b = &brokerFigures{}
		r.brokers[int32(id)] = b
	}
	switch base {
	case saramaRequests:
		return &b.requests, true
	case saramaResponse:
		return &b.responses, true
	case saramaSent:
		return &b.sent, true
	case saramaReceived:
		return &b.received, true
	case saramaLatency:
		return &b.latency, true
	case saramaThrottle:
		return &b.throttle, true
	default:
		return &b.inFlight, true
	}
}

// each calls fn with every broker's figures, under the lock.
func (r *Registry) each(fn func(id int32, b *brokerFigures)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, b := range r.brokers {
		fn(id, b)
	}
}

// GetOrRegister returns the bridged figure for name, or else a
// do-nothing metric of the kind sarama asks for. i is what go-metrics'
// GetOrRegister* helpers pass: a constructor, or a metric.
func (r *Registry) GetOrRegister(name string, i any) any {
	if m, ok := r.figure(name); ok {
		return m
	}
	switch i.(type) {
	case func() metrics.Meter:
		return metrics.NilMeter{}
	case func() metrics.Histogram:
		return metrics.NilHistogram{}
	case func() metrics.Counter:
		return metrics.NilCounter{}
	case func() metrics.Gauge:
		return metrics.NilGauge{}
	case func() metrics.GaugeFloat64:
		return metrics.NilGaugeFloat64{}
	case func() metrics.Timer:
		return metrics.NilTimer{}
	}
	// A constructor of another kind is called, as go-metrics' registry
	// does; a metric made by the caller is returned as it is. Neither is
	// kept: there is no one to read them.
	if v := reflect.ValueOf(i); v.Kind() == reflect.Func && v.Type().NumIn() == 0 && v.Type().NumOut() == 1 {
		return v.Call(nil)[0].Interface()
	}
	return i
}

// Register does nothing: a metric registered by value has no reader.
func (r *Registry) Register(string, any) error { return nil }

// Get returns the bridged figure named name, or nil.
func (r *Registry) Get(name string) any {
	m, _ := r.figure(name)
	return m
}

// Each calls fn for nothing: the bridge reads the figures itself.
func (r *Registry) Each(func(string, any)) {}

// GetAll returns an empty map, as Each reports nothing.
func (r *Registry) GetAll() map[string]map[string]any { return map[string]map[string]any{} }

// RunHealthchecks does nothing: there are no health checks.
func (r *Registry) RunHealthchecks() {}

// Unregister does nothing, so that a broker's totals survive its
// reconnections (see [Registry]).
func (r *Registry) Unregister(string) {}

// UnregisterAll does nothing, for the same reason.
func (r *Registry) UnregisterAll() {}

var _ metrics.Registry = (*Registry)(nil)
