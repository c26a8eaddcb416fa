package eos

import (
	"context"
	"sync/atomic"

	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const scope = telemetry.Scope + "/eos"

// Abort reasons, the "reason" attribute of the aborts metric.
const (
	reasonRevoked      = "revoked"       // the generation ended (rebalance, lost membership)
	reasonStopped      = "stopped"       // Run's context ended
	reasonRetryable    = "handler-retry" // a retryable handler error
	reasonPause        = "handler-pause" // a pause-class handler error
	reasonProduce      = "produce"       // a record could not be written
	reasonCommit       = "commit"        // the commit failed (broker error)
	reasonGroupFenced  = "group-fenced"  // offsets carried a stale generation
	reasonBegin        = "begin"         // the transaction could not begin
	reasonUnknownState = "unknown-outcome"
)

// instruments are the session's metrics and tracer. Attribute sets are
// built once so recording allocates nothing.
type instruments struct {
	tracer       trace.Tracer
	commits      metric.Int64Counter
	aborts       metric.Int64Counter
	fenced       metric.Int64Counter
	deadLettered metric.Int64Counter
	unstable     metric.Int64Counter
	records      metric.Int64Histogram
	latency      metric.Float64Histogram
	groupAttr    metric.MeasurementOption
	group        attribute.KeyValue
}

func newInstruments(tp trace.TracerProvider, mp metric.MeterProvider, group string, missing *atomic.Int64) (*instruments, error) {
	m := telemetry.MeterProvider(mp).Meter(scope)
	in := &instruments{
		tracer: telemetry.TracerProvider(tp).Tracer(scope),
		group:  telemetry.MessagingConsumerGroupName.String(group),
	}
	in.groupAttr = metric.WithAttributeSet(attribute.NewSet(in.group))
	var err error
	if in.commits, err = m.Int64Counter("bulwark.eos.commits", metric.WithDescription("Transactions committed.")); err != nil {
		return nil, err
	}
	if in.aborts, err = m.Int64Counter("bulwark.eos.aborts", metric.WithDescription("Transactions aborted, by reason.")); err != nil {
		return nil, err
	}
	if in.fenced, err = m.Int64Counter("bulwark.eos.fenced", metric.WithDescription("Times the producer or the group member was fenced.")); err != nil {
		return nil, err
	}
	if in.deadLettered, err = m.Int64Counter("bulwark.eos.dead_lettered", metric.WithDescription("Input records written to a dead-letter topic.")); err != nil {
		return nil, err
	}
	if in.unstable, err = m.Int64Counter("bulwark.eos.unstable_offset_fetches",
		metric.WithDescription("Offset fetches that found offsets of a pending transaction and were retried.")); err != nil {
		return nil, err
	}
	if in.records, err = m.Int64Histogram("bulwark.eos.transaction.records", metric.WithDescription("Input records per committed transaction.")); err != nil {
		return nil, err
	}
	if in.latency, err = m.Float64Histogram("bulwark.eos.commit.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to commit a transaction (offsets and EndTxn).")); err != nil {
		return nil, err
	}
	if _, err = m.Int64ObservableGauge("bulwark.eos.topics.missing",
		metric.WithDescription("Input topics Run waits for (WithWaitForTopics)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(missing.Load(), in.groupAttr)
			return nil
		})); err != nil {
		return nil, err
	}
	return in, nil
}

func (in *instruments) abort(reason string) {
	in.aborts.Add(context.Background(), 1, metric.WithAttributes(in.group, attribute.String("reason", reason)))
}

func (in *instruments) fencedEvent(kind string) {
	in.fenced.Add(context.Background(), 1, metric.WithAttributes(in.group, attribute.String("kind", kind)))
}
