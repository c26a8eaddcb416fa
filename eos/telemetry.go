package eos

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const scope = telemetry.Scope + "/eos"

// Metric names. Every metric carries messaging.consumer.group.name.
// Handler calls are measured as OpenTelemetry's messaging.process.duration
// (with the topic, the client attributes and operation process);
// transactions have no semantic convention, so the rest are bulwark.eos.*.
const (
	MetricProcessDuration    = telemetry.MetricProcessDuration       // seconds of one handler call, by topic (buckets 0.5 ms..10 s)
	MetricCommits            = "bulwark.eos.commits"                 // transactions committed
	MetricAborts             = "bulwark.eos.aborts"                  // transactions aborted, by reason
	MetricFenced             = "bulwark.eos.fenced"                  // producer or group member fenced, by kind
	MetricDeadLettered       = "bulwark.eos.dead_lettered"           // input records dead-lettered in committed transactions
	MetricUnstableOffsets    = "bulwark.eos.unstable_offset_fetches" // offset fetches retried past a pending transaction
	MetricTransactionRecords = "bulwark.eos.transaction.records"     // input records per committed transaction (buckets 1..10000)
	MetricCommitDuration     = "bulwark.eos.commit.duration"         // seconds to commit (offsets and EndTxn; buckets 0.5 ms..10 s)
	MetricTopicsMissing      = "bulwark.eos.topics.missing"          // input topics Run waits for (gauge)
)

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
	process      metric.Float64Histogram
	byTopic      sync.Map // topic -> []metric.RecordOption of the process duration
	groupAttr    metric.MeasurementOption
	group        attribute.KeyValue
	client       []attribute.KeyValue
	counts       counts
}

// counts are the running totals [Session.Stats] reports.
type counts struct {
	commits, aborts, fenced, records, deadLettered atomic.Int64
	lastCommitNanos, lastCommitLatency             atomic.Int64
}

// newInstruments makes a session's instruments; client names it in spans
// (telemetry.Client).
func newInstruments(tp trace.TracerProvider, mp metric.MeterProvider, group string, client []attribute.KeyValue, missing *atomic.Int64) (*instruments, error) {
	m := telemetry.MeterProvider(mp).Meter(scope)
	in := &instruments{
		tracer: telemetry.TracerProvider(tp).Tracer(scope),
		group:  telemetry.MessagingConsumerGroupName.String(group),
		client: client,
	}
	in.groupAttr = metric.WithAttributeSet(attribute.NewSet(in.group))
	var err error
	if in.commits, err = m.Int64Counter(MetricCommits, metric.WithUnit("{transaction}"), metric.WithDescription("Transactions committed.")); err != nil {
		return nil, err
	}
	if in.aborts, err = m.Int64Counter(MetricAborts, metric.WithUnit("{transaction}"), metric.WithDescription("Transactions aborted, by reason.")); err != nil {
		return nil, err
	}
	if in.fenced, err = m.Int64Counter(MetricFenced, metric.WithUnit("{fencing}"), metric.WithDescription("Times the producer or the group member was fenced.")); err != nil {
		return nil, err
	}
	if in.deadLettered, err = m.Int64Counter(MetricDeadLettered, metric.WithUnit("{record}"), metric.WithDescription("Input records written to a dead-letter topic.")); err != nil {
		return nil, err
	}
	if in.unstable, err = m.Int64Counter(MetricUnstableOffsets, metric.WithUnit("{fetch}"),
		metric.WithDescription("Offset fetches that found offsets of a pending transaction and were retried.")); err != nil {
		return nil, err
	}
	if in.records, err = m.Int64Histogram(MetricTransactionRecords, metric.WithUnit("{record}"),
		metric.WithDescription("Input records per committed transaction."),
		metric.WithExplicitBucketBoundaries(telemetry.CountBuckets...)); err != nil {
		return nil, err
	}
	if in.latency, err = telemetry.DurationHistogram(m, MetricCommitDuration,
		"Time to commit a transaction (offsets and EndTxn)."); err != nil {
		return nil, err
	}
	if in.process, err = telemetry.DurationHistogram(m, MetricProcessDuration, "Duration of one handler call."); err != nil {
		return nil, err
	}
	if _, err = m.Int64ObservableGauge(MetricTopicsMissing, metric.WithUnit("{topic}"),
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
	in.counts.aborts.Add(1)
	in.aborts.Add(context.Background(), 1, metric.WithAttributes(in.group, attribute.String("reason", reason)))
}

func (in *instruments) fencedEvent(kind string) {
	in.counts.fenced.Add(1)
	in.fenced.Add(context.Background(), 1, metric.WithAttributes(in.group, attribute.String("kind", kind)))
}

// committed records a committed transaction of records input records, dl
// of them dead-lettered, whose commit took took and ended at end.
func (in *instruments) committed(records, dl int64, took time.Duration, end time.Time) {
	bg := context.Background()
	// The latency and time first, then the count: a reader that sees the
	// count move sees this commit's time (or a later one's).
	in.counts.lastCommitLatency.Store(int64(took))
	in.counts.lastCommitNanos.Store(end.UnixNano())
	in.counts.records.Add(records)
	in.counts.deadLettered.Add(dl)
	in.counts.commits.Add(1)
	in.commits.Add(bg, 1, in.groupAttr)
	in.latency.Record(bg, took.Seconds(), in.groupAttr)
	in.records.Record(bg, records, in.groupAttr)
	if dl > 0 {
		in.deadLettered.Add(bg, dl, in.groupAttr)
	}
}

// processed records a handler call on a record of topic that took took.
func (in *instruments) processed(ctx context.Context, topic string, took time.Duration) {
	opts, ok := in.byTopic.Load(topic)
	if !ok {
		attrs := append([]attribute.KeyValue{in.group, telemetry.MessagingDestinationName.String(topic)}, in.client...)
		attrs = append(attrs, telemetry.Operation(telemetry.OperationProcess)...)
		opts, _ = in.byTopic.LoadOrStore(topic, []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))})
	}
	in.process.Record(ctx, took.Seconds(), opts.([]metric.RecordOption)...)
}
