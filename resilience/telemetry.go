package resilience

import (
	"context"
	"log/slog"

	"github.com/bulwarkgo/bulwark/internal/logging"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric and attribute names. All counters carry bulwark.resilience.name
// and bulwark.resilience.policy.
const (
	metricBreakerState   = "bulwark.resilience.breaker.state"
	metricTransitions    = "bulwark.resilience.breaker.transitions"
	metricRejections     = "bulwark.resilience.rejections"
	metricRetries        = "bulwark.resilience.retries"
	metricTimeouts       = "bulwark.resilience.timeouts"
	metricBulkheadQueued = "bulwark.resilience.bulkhead.queued"
	metricBulkheadWait   = "bulwark.resilience.bulkhead.wait"

	attrName   = attribute.Key("bulwark.resilience.name")
	attrPolicy = attribute.Key("bulwark.resilience.policy")
	attrState  = attribute.Key("bulwark.resilience.breaker.state")
)

// instruments are one policy's meters, with its attributes bound once so
// that recording on the hot path does not allocate.
type instruments struct {
	name        string
	meter       metric.Meter
	logger      *slog.Logger
	attrs       attribute.Set
	addOpts     []metric.AddOption
	recordOpts  []metric.RecordOption
	rejections  metric.Int64Counter
	retries     metric.Int64Counter
	timeouts    metric.Int64Counter
	transitions metric.Int64Counter
	queued      metric.Int64UpDownCounter
	wait        metric.Float64Histogram
}

// newInstruments creates the instruments every policy may use. Creating an
// instrument on a noop or SDK meter does not fail in practice; an error is
// still returned rather than ignored.
func newInstruments(s shared, kind string) (*instruments, error) {
	name := s.name
	if name == "" {
		name = kind
	}
	logger := s.logger
	if logger == nil {
		logger = logging.Default()
	}
	logger = logger.With("resilience_policy", kind, "resilience_name", name)
	meter := telemetry.MeterProvider(s.meters).Meter(telemetry.Scope + "/resilience")
	in := &instruments{
		name:   name,
		meter:  meter,
		logger: logger,
		attrs:  attribute.NewSet(attrName.String(name), attrPolicy.String(kind)),
	}
	in.addOpts = []metric.AddOption{metric.WithAttributeSet(in.attrs)}
	in.recordOpts = []metric.RecordOption{metric.WithAttributeSet(in.attrs)}
	var err error
	if in.rejections, err = meter.Int64Counter(metricRejections,
		metric.WithDescription("Calls rejected without being made: breaker open, bulkhead full or rate limited."),
		metric.WithUnit("{call}")); err != nil {
		return nil, err
	}
	if in.retries, err = meter.Int64Counter(metricRetries,
		metric.WithDescription("Retry attempts made by a retry policy."),
		metric.WithUnit("{attempt}")); err != nil {
		return nil, err
	}
	if in.timeouts, err = meter.Int64Counter(metricTimeouts,
		metric.WithDescription("Calls that ran past their time limit."),
		metric.WithUnit("{call}")); err != nil {
		return nil, err
	}
	if in.transitions, err = meter.Int64Counter(metricTransitions,
		metric.WithDescription("Circuit breaker state changes, by new state."),
		metric.WithUnit("{transition}")); err != nil {
		return nil, err
	}
	if in.queued, err = meter.Int64UpDownCounter(metricBulkheadQueued,
		metric.WithDescription("Calls waiting for a bulkhead slot."),
		metric.WithUnit("{call}")); err != nil {
		return nil, err
	}
	if in.wait, err = meter.Float64Histogram(metricBulkheadWait,
		metric.WithDescription("Time calls that found the bulkhead full waited for a slot."),
		metric.WithUnit("s")); err != nil {
		return nil, err
	}
	return in, nil
}

func (in *instruments) rejected(ctx context.Context) { in.rejections.Add(ctx, 1, in.addOpts...) }
