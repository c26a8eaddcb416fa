package producer

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Metric names: OpenTelemetry's messaging semantic conventions where they
// have one, bulwark.producer.* otherwise. The messaging metrics carry
// messaging.system (kafka), messaging.operation.name and .type (send),
// messaging.destination.name (the topic), messaging.client.id, and
// server.address and server.port (the first bootstrap broker).
const (
	// Acknowledged records, by topic ({message}). Failed ones are counted
	// by MetricRecordsFailed, so that this sum is what was delivered.
	MetricRecordsSent = telemetry.MetricSentMessages
	// Records that failed ({record}), by topic and error.type.
	MetricRecordsFailed = "bulwark.producer.records.failed"
	// Seconds from Send/SendAsync to the outcome, by topic (boundaries
	// 0.5 ms to 10 s).
	MetricSendDuration    = telemetry.MetricOperationDuration
	MetricRecordsInFlight = "bulwark.producer.records.in_flight" // records handed to the client and not yet settled
	MetricTxnCommits      = "bulwark.producer.transactions.committed"
	MetricTxnAborts       = "bulwark.producer.transactions.aborted"
	MetricTxnDuration     = "bulwark.producer.transaction.duration" // seconds from begin to commit or abort (0.5 ms to 10 s)
)

// instruments holds the tracer and metric instruments of one producer.
type instruments struct {
	tracer    trace.Tracer
	startOpts []trace.SpanStartOption
	// unsetGlobal is otel's global tracer provider as it is before a
	// program sets one, when that is what the producer traces with; nil
	// otherwise. See startSpan.
	unsetGlobal trace.TracerProvider

	sent     metric.Int64Counter
	failed   metric.Int64Counter
	duration metric.Float64Histogram
	inFlight metric.Int64UpDownCounter

	txnCommits  metric.Int64Counter
	txnAborts   metric.Int64Counter
	txnDuration metric.Float64Histogram

	// client names the producer in every messaging metric and span
	// (telemetry.Client), with the send operation's name and type.
	client []attribute.KeyValue

	topics sync.Map // topic -> *topicTelemetry
	// last is the topic looked up last: most producers send to one topic,
	// and comparing its name costs less than hashing it for the map.
	last atomic.Pointer[topicTelemetry]
}

// topicTelemetry is built once per topic so that recording a record
// allocates nothing for names and attribute sets.
type topicTelemetry struct {
	name        string
	spanName    string
	destination attribute.KeyValue
	// Option slices made once: passing a lone option to a variadic
	// parameter would allocate its backing array on every call.
	addOpts    []metric.AddOption
	recordOpts []metric.RecordOption
	// failedAttrs are the attributes of the failed-records counter, but
	// error.type.
	failedAttrs []attribute.KeyValue
}

// newInstruments makes a producer's instruments; brokers and clientID name
// it in metrics and spans.
func newInstruments(tp trace.TracerProvider, mp metric.MeterProvider, brokers []string, clientID string) (*instruments, error) {
	scope := telemetry.Scope + "/producer"
	meter := telemetry.MeterProvider(mp).Meter(scope)
	tp = telemetry.TracerProvider(tp)
	client := append(telemetry.Client(brokers, clientID), telemetry.Operation(telemetry.OperationSend)...)
	in := &instruments{
		tracer:    tp.Tracer(scope),
		startOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(client...)},
		client:    client,
	}
	if telemetry.UnsetGlobal(tp) {
		in.unsetGlobal = tp
	}
	var err error
	if in.sent, err = meter.Int64Counter(MetricRecordsSent, metric.WithUnit("{message}"),
		metric.WithDescription("Records acknowledged by the cluster.")); err != nil {
		return nil, err
	}
	if in.failed, err = meter.Int64Counter(MetricRecordsFailed, metric.WithUnit("{record}"),
		metric.WithDescription("Records that could not be sent.")); err != nil {
		return nil, err
	}
	if in.duration, err = telemetry.DurationHistogram(meter, MetricSendDuration,
		"Time from handing a record to the producer to its outcome."); err != nil {
		return nil, err
	}
	if in.inFlight, err = meter.Int64UpDownCounter(MetricRecordsInFlight, metric.WithUnit("{record}"),
		metric.WithDescription("Records handed to the producer and not yet acknowledged or failed.")); err != nil {
		return nil, err
	}
	if in.txnCommits, err = meter.Int64Counter(MetricTxnCommits, metric.WithUnit("{transaction}"),
		metric.WithDescription("Committed transactions.")); err != nil {
		return nil, err
	}
	if in.txnAborts, err = meter.Int64Counter(MetricTxnAborts, metric.WithUnit("{transaction}"),
		metric.WithDescription("Aborted or failed transactions.")); err != nil {
		return nil, err
	}
	if in.txnDuration, err = telemetry.DurationHistogram(meter, MetricTxnDuration,
		"Time from beginning a transaction to its commit or abort."); err != nil {
		return nil, err
	}
	return in, nil
}

func (in *instruments) topic(name string) *topicTelemetry {
	if t := in.last.Load(); t != nil && t.name == name {
		return t
	}
	t := in.lookupTopic(name)
	in.last.Store(t)
	return t
}

func (in *instruments) lookupTopic(name string) *topicTelemetry {
	if t, ok := in.topics.Load(name); ok {
		return t.(*topicTelemetry)
	}
	dest := telemetry.MessagingDestinationName.String(name)
	attrs := append([]attribute.KeyValue{dest}, in.client...)
	measure := metric.WithAttributeSet(attribute.NewSet(attrs...))
	t, _ := in.topics.LoadOrStore(name, &topicTelemetry{
		name:        name,
		spanName:    "send " + name,
		destination: dest,
		addOpts:     []metric.AddOption{measure},
		recordOpts:  []metric.RecordOption{measure},
		failedAttrs: attrs,
	})
	return t.(*topicTelemetry)
}

// startSpan starts the record's producer span and returns the trace headers
// to add to the record (nil when there is no trace context to propagate).
func (in *instruments) startSpan(ctx context.Context, tt *topicTelemetry, messageID []byte) (trace.Span, []bulwark.Header) {
	if in.untraced(ctx) {
		return untracedSpan, nil
	}
	ctx, span := in.tracer.Start(ctx, tt.spanName, in.startOpts...)
	if span.IsRecording() {
		span.SetAttributes(tt.destination) // and in.client, given at start
		if messageID != nil {
			span.SetAttributes(telemetry.MessagingMessageID.String(string(messageID)))
		}
	}
	// Injecting needs a scratch message; skip it when there is nothing to
	// propagate so that untraced sends stay cheap.
	if !span.SpanContext().IsValid() && baggage.FromContext(ctx).Len() == 0 {
		return span, nil
	}
	carrier := &bulwark.Message{}
	telemetry.Inject(ctx, carrier)
	return span, carrier.Headers
}

// untracedSpan stands for the span of a record nobody traces. It is made
// once: a span in an interface value costs an allocation.
var untracedSpan trace.Span = noop.Span{}

// untraced reports whether a span started now would be a no-op with
// nothing to propagate: the producer traces with otel's global provider,
// no program has set one yet (so it would hand out a non-recording span
// carrying ctx's span context), and ctx has no span context and no
// baggage. Starting that span anyway would cost two allocations per record
// for nothing. Once a provider is set, otel.GetTracerProvider returns it
// instead, so spans start again (the global one delegates to it). One
// thing is given up: otel's eBPF auto-instrumentation, which hooks span
// creation in the unset global tracer, sees no producer spans.
func (in *instruments) untraced(ctx context.Context) bool {
	return in.unsetGlobal != nil &&
		telemetry.TracerProvider(nil) == in.unsetGlobal &&
		!trace.SpanContextFromContext(ctx).IsValid() &&
		baggage.FromContext(ctx).Len() == 0
}

// settled records the outcome of one record.
func (in *instruments) settled(ctx context.Context, r *record, partition int32, offset int64, err error) {
	in.inFlight.Add(ctx, -1)
	if !r.start.IsZero() {
		in.duration.Record(ctx, time.Since(r.start).Seconds(), r.topic.recordOpts...)
	}
	if err != nil {
		in.failed.Add(ctx, 1, in.failedOpts(r.topic, err))
	} else {
		in.sent.Add(ctx, 1, r.topic.addOpts...)
	}
	span := r.span
	if span == nil {
		return
	}
	if span.IsRecording() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			span.SetAttributes(telemetry.ErrorType.String(errorType(err)))
		} else {
			span.SetAttributes(
				telemetry.MessagingDestinationPart.String(strconv.FormatInt(int64(partition), 10)),
				telemetry.MessagingKafkaOffset.Int64(offset),
			)
		}
	}
	span.End()
}

func (in *instruments) failedOpts(tt *topicTelemetry, err error) metric.AddOption {
	return metric.WithAttributes(append(tt.failedAttrs[:len(tt.failedAttrs):len(tt.failedAttrs)],
		telemetry.ErrorType.String(errorType(err)))...)
}

// errorType is a low-cardinality name for err, for metrics and spans.
func errorType(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, bulwark.ErrClosed):
		return "closed"
	case errors.Is(err, bulwark.ErrPermanent):
		return "permanent"
	default:
		return "retryable"
	}
}
