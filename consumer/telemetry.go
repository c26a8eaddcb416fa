package consumer

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const scope = telemetry.Scope + "/consumer"

// Metric names: OpenTelemetry's messaging semantic conventions where they
// have one, bulwark.consumer.* otherwise. Every metric carries
// messaging.consumer.group.name; the messaging ones also messaging.system
// (kafka), messaging.operation.name and .type, messaging.client.id, and
// server.address and server.port (the first bootstrap broker). Durations
// are in seconds, in buckets of 0.5 ms to 10 s.
const (
	// Records taken from Kafka ({message}), by topic; operation poll.
	MetricRecordsConsumed = telemetry.MetricConsumedMessages
	// Duration of one handler call (or batch handler call), by topic;
	// operation process.
	MetricHandlerDuration = telemetry.MetricProcessDuration
	// Duration of one offset commit request; operation commit.
	MetricCommitDuration = telemetry.MetricOperationDuration

	MetricRecordsFailed       = "bulwark.consumer.records.failed"        // handler errors but pause-class ones, by topic and error.type
	MetricRecordsPaused       = "bulwark.consumer.records.paused"        // pause-class handler errors, by topic
	MetricRecordsRetried      = "bulwark.consumer.records.retried"       // in-place retries, by topic
	MetricRecordsDeadLettered = "bulwark.consumer.records.dead_lettered" // records written to a dead-letter topic, by source topic
	MetricWritesFailed        = "bulwark.consumer.writes.failed"         // failed dead-letter and retry-topic writes, by target topic
	MetricInFlight            = "bulwark.consumer.in_flight"             // records taken and not finished (gauge)
	MetricLag                 = "bulwark.consumer.lag"                   // high watermark minus next offset, by topic and partition (gauge)
	MetricPartitionsBlocked   = "bulwark.consumer.partitions.blocked"    // partitions waiting for a failing write (gauge)
	MetricTopicsMissing       = "bulwark.consumer.topics.missing"        // subscribed topics Run waits for (gauge)
)

type instruments struct {
	c            *Consumer
	tracer       trace.Tracer
	consumedCtr  metric.Int64Counter
	failedCtr    metric.Int64Counter
	pausedCtr    metric.Int64Counter
	retriedCtr   metric.Int64Counter
	deadCtr      metric.Int64Counter
	writeFailed  metric.Int64Counter
	handlerHist  metric.Float64Histogram
	commitHist   metric.Float64Histogram
	registration metric.Registration
	groupAttr    attribute.KeyValue
	// client names the consumer in messaging metrics and spans
	// (telemetry.Client).
	client     []attribute.KeyValue
	commitOpts []metric.RecordOption
	// byTopic caches each topic's names and option slices: building them
	// per record costs allocations on the hot path.
	byTopic sync.Map // string -> *topicTelemetry
	// unsetGlobal is otel's global tracer provider as it is before a
	// program sets one, when that is what the consumer traces with; nil
	// otherwise. See untraced.
	unsetGlobal trace.TracerProvider
	startOpts   []trace.SpanStartOption
}

// topicTelemetry is made once per topic. Option slices are kept whole:
// passing a lone option to a variadic parameter allocates its backing
// array on every call.
type topicTelemetry struct {
	spanName string
	dest     attribute.KeyValue
	// measure, addOpts: the group and the topic, for bulwark.* metrics.
	measure metric.MeasurementOption
	addOpts []metric.AddOption
	// consumedOpts and processOpts add the client and the operation, for
	// the messaging metrics.
	consumedOpts []metric.AddOption
	processOpts  []metric.RecordOption
}

func newTelemetry(c *Consumer, tp trace.TracerProvider, mp metric.MeterProvider) (*instruments, error) {
	resolved := telemetry.TracerProvider(tp)
	client := telemetry.Client(c.brokers, c.conn.ClientID)
	groupAttr := telemetry.MessagingConsumerGroupName.String(c.group)
	t := &instruments{c: c, tracer: resolved.Tracer(scope),
		groupAttr: groupAttr,
		client:    client,
		commitOpts: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			append(append([]attribute.KeyValue{groupAttr}, client...), telemetry.Operation(telemetry.OperationCommit)...)...))},
		startOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(client...)}}
	if telemetry.UnsetGlobal(resolved) {
		t.unsetGlobal = resolved
	}
	m := telemetry.MeterProvider(mp).Meter(scope)
	var err error
	must := func(e error) {
		if err == nil {
			err = e
		}
	}
	var e error
	t.consumedCtr, e = m.Int64Counter(MetricRecordsConsumed, metric.WithUnit("{message}"), metric.WithDescription("Records taken from Kafka."))
	must(e)
	t.failedCtr, e = m.Int64Counter(MetricRecordsFailed, metric.WithUnit("{record}"), metric.WithDescription("Handler calls that returned an error other than a pause-class one."))
	must(e)
	t.pausedCtr, e = m.Int64Counter(MetricRecordsPaused, metric.WithUnit("{record}"), metric.WithDescription("Handler calls that returned a pause-class error."))
	must(e)
	t.retriedCtr, e = m.Int64Counter(MetricRecordsRetried, metric.WithUnit("{record}"), metric.WithDescription("In-place retries."))
	must(e)
	t.deadCtr, e = m.Int64Counter(MetricRecordsDeadLettered, metric.WithUnit("{record}"), metric.WithDescription("Records written to a dead-letter topic."))
	must(e)
	t.writeFailed, e = m.Int64Counter(MetricWritesFailed, metric.WithUnit("{write}"), metric.WithDescription("Failed writes to a dead-letter or retry topic (each is tried again; the partition waits)."))
	must(e)
	t.handlerHist, e = telemetry.DurationHistogram(m, MetricHandlerDuration, "Duration of one handler call.")
	must(e)
	t.commitHist, e = telemetry.DurationHistogram(m, MetricCommitDuration, "Duration of one offset commit request.")
	must(e)
	inFlight, e := m.Int64ObservableGauge(MetricInFlight, metric.WithUnit("{record}"), metric.WithDescription("Records taken from Kafka and not finished."))
	must(e)
	lag, e := m.Int64ObservableGauge(MetricLag, metric.WithUnit("{message}"), metric.WithDescription("High watermark minus next offset, per partition."))
	must(e)
	blocked, e := m.Int64ObservableGauge(MetricPartitionsBlocked, metric.WithUnit("{partition}"), metric.WithDescription("Partitions waiting for a write to a dead-letter or retry topic that keeps failing."))
	must(e)
	missing, e := m.Int64ObservableGauge(MetricTopicsMissing, metric.WithUnit("{topic}"), metric.WithDescription("Subscribed topics Run waits for (WithWaitForTopics)."))
	must(e)
	if err != nil {
		return nil, err
	}
	t.registration, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := c.Stats()
		o.ObserveInt64(inFlight, int64(st.InFlightRecords), metric.WithAttributes(t.groupAttr))
		o.ObserveInt64(missing, int64(len(st.MissingTopics)), metric.WithAttributes(t.groupAttr))
		nBlocked := 0
		for _, p := range st.Partitions {
			if p.BlockedOn != "" {
				nBlocked++
			}
		}
		o.ObserveInt64(blocked, int64(nBlocked), metric.WithAttributes(t.groupAttr))
		for _, p := range st.Partitions {
			if p.Lag >= 0 {
				o.ObserveInt64(lag, p.Lag, metric.WithAttributes(t.groupAttr,
					telemetry.MessagingDestinationName.String(p.Topic),
					telemetry.MessagingDestinationPart.String(strconv.Itoa(int(p.Partition)))))
			}
		}
		return nil
	}, inFlight, lag, blocked, missing)
	return t, err
}

func (t *instruments) close() {
	if t.registration != nil {
		_ = t.registration.Unregister()
	}
}

func (t *instruments) topic(name string) *topicTelemetry {
	if tt, ok := t.byTopic.Load(name); ok {
		return tt.(*topicTelemetry)
	}
	dest := telemetry.MessagingDestinationName.String(name)
	measure := metric.WithAttributeSet(attribute.NewSet(t.groupAttr, dest))
	messaging := func(op string) metric.MeasurementOption {
		attrs := append(append([]attribute.KeyValue{t.groupAttr, dest}, t.client...), telemetry.Operation(op)...)
		return metric.WithAttributeSet(attribute.NewSet(attrs...))
	}
	tt, _ := t.byTopic.LoadOrStore(name, &topicTelemetry{
		spanName:     "process " + name,
		dest:         dest,
		measure:      measure,
		addOpts:      []metric.AddOption{measure},
		consumedOpts: []metric.AddOption{messaging(telemetry.OperationPoll)},
		processOpts:  []metric.RecordOption{messaging(telemetry.OperationProcess)},
	})
	return tt.(*topicTelemetry)
}

func (t *instruments) topicAttrs(topic string) metric.MeasurementOption {
	return t.topic(topic).measure
}

// noTracer reports whether no tracer provider was given and none was set
// globally (see telemetry.UnsetGlobal): a span started then, without a
// parent to propagate, would be a no-op, so the consumer skips it and its
// allocations per record.
func (t *instruments) noTracer() bool {
	return t.unsetGlobal != nil && telemetry.TracerProvider(nil) == t.unsetGlobal
}

// consumed counts n records taken from topic: once per run, not per
// record, since a metric update costs about as much as a no-op handler.
func (t *instruments) consumed(topic string, n int) {
	t.c.counts.addConsumed(n)
	t.consumedCtr.Add(context.Background(), int64(n), t.topic(topic).consumedOpts...)
}

// commitDone counts one commit request that took d and ended with err.
func (t *instruments) commitDone(d time.Duration, err error) {
	t.c.counts.addCommit(d, err)
	t.commitHist.Record(context.Background(), d.Seconds(), t.commitOpts...)
}

// timed measures each handler call. Reading the clock twice costs more
// than a no-op handler: it is skipped when the histogram goes nowhere.
func (t *instruments) timed(h bulwark.Handler) bulwark.Handler {
	return bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		if !t.handlerHist.Enabled(ctx) {
			return h.Handle(ctx, msg)
		}
		start := time.Now()
		err := h.Handle(ctx, msg)
		t.handlerHist.Record(ctx, time.Since(start).Seconds(), t.topic(msg.Topic).processOpts...)
		return err
	})
}
