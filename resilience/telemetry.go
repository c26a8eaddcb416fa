package resilience

import (
	"context"
	"log/slog"

	"github.com/bulwarkgo/bulwark/internal/logging"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. Resilience policies have no OpenTelemetry semantic
// convention, so all are bulwark.resilience.*; every metric carries
// [AttrName] and [AttrPolicy].
const (
	MetricBreakerState   = "bulwark.resilience.breaker.state"       // gauge: 0 closed, 1 open, 2 half-open
	MetricTransitions    = "bulwark.resilience.breaker.transitions" // state changes, by AttrBreakerState (the new state)
	MetricRejections     = "bulwark.resilience.rejections"          // calls rejected without being made
	MetricRetries        = "bulwark.resilience.retries"             // retry attempts
	MetricTimeouts       = "bulwark.resilience.timeouts"            // calls past their time limit
	MetricBulkheadQueued = "bulwark.resilience.bulkhead.queued"     // calls waiting for a slot
	MetricBulkheadWait   = "bulwark.resilience.bulkhead.wait"       // seconds a call waited for a slot (buckets 0.5 ms..10 s)

	// AttrName is the policy's name ([WithName]); AttrPolicy its kind
	// (breaker, retry, bulkhead, timeout, ratelimiter); AttrBreakerState
	// the breaker state a transition went to.
	AttrName         = "bulwark.resilience.name"
	AttrPolicy       = "bulwark.resilience.policy"
	AttrBreakerState = "bulwark.resilience.breaker.state"
)

const (
	attrName   = attribute.Key(AttrName)
	attrPolicy = attribute.Key(AttrPolicy)
	attrState  = attribute.Key(AttrBreakerState)
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
	if in.rejections, err = meter.Int64Counter(MetricRejections,
		metric.WithDescription("Calls rejected without being made: breaker open, bulkhead full or rate limited."),
		metric.WithUnit("{call}")); err != nil {
		return nil, err
	}
	if in.retries, err = meter.Int64Counter(MetricRetries,
		metric.WithDescription("Retry attempts made by a retry policy."),
		metric.WithUnit("{attempt}")); err != nil {
		return nil, err
	}
	if in.timeouts, err = meter.Int64Counter(MetricTimeouts,
		metric.WithDescription("Calls that ran past their time limit."),
		metric.WithUnit("{call}")); err != nil {
		return nil, err
	}
	if in.transitions, err = meter.Int64Counter(MetricTransitions,
		metric.WithDescription("Circuit breaker state changes, by new state."),
		metric.WithUnit("{transition}")); err != nil {
		return nil, err
	}
	if in.queued, err = meter.Int64UpDownCounter(MetricBulkheadQueued,
		metric.WithDescription("Calls waiting for a bulkhead slot."),
		metric.WithUnit("{call}")); err != nil {
		return nil, err
	}
	if in.wait, err = telemetry.DurationHistogram(meter, MetricBulkheadWait,
		"Time calls that found the bulkhead full waited for a slot."); err != nil {
		return nil, err
	}
	return in, nil
}

func (in *instruments) rejected(ctx context.Context) { in.rejections.Add(ctx, 1, in.addOpts...) }
