package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/logtest"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"github.com/bulwarkgo/bulwark/internal/telemetry/telemetrytest"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Each record's consumer span is a child of the producer span whose W3C
// context its headers carry; the consumed, failed, dead-lettered, handler
// duration, in-flight and lag metrics have the values the run implies.
func TestTelemetrySpansAndMetrics(t *testing.T) {
	const n, handlerTime = 8, 20 * time.Millisecond
	cl := newCluster(t, map[string]int32{"in": 1, "in.dlt": 1})
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })

	// One producer span per record, its context injected into the headers.
	producerSpans := map[string]trace.SpanContext{}
	client, err := kgo.NewClient(kgo.SeedBrokers(cl.Brokers()...), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		value := fmt.Sprintf("v%d", i)
		ctx, span := tp.Tracer("test-producer").Start(context.Background(), "send in", trace.WithSpanKind(trace.SpanKindProducer))
		msg := &bulwark.Message{}
		telemetry.Inject(ctx, msg)
		span.End()
		producerSpans[value] = span.SpanContext()
		r := &kgo.Record{Value: []byte(value)}
		for _, h := range msg.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		if err := client.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	client.Close()

	rec := newRecorder(func(_ context.Context, msg *bulwark.Message) error {
		time.Sleep(handlerTime)
		if string(msg.Value) == "v3" {
			return bulwark.Permanent(errors.New("poison"))
		}
		return nil
	})
	c, err := New(cl.Brokers(), "g-tel", []string{"in"}, rec,
		fastOpts(cl, WithTracerProvider(tp), WithMeterProvider(mp))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 20*time.Second, "all committed", func() bool { return committed(t, cl, "g-tel", "in")[0] == n })
	waitFor(t, 5*time.Second, "caught up", func() bool {
		p := c.Stats().Partitions
		return len(p) == 1 && p[0].Lag == 0 && p[0].NextOffset == n
	})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Spans.
	byValue := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		if s.SpanKind() != trace.SpanKindConsumer {
			continue
		}
		var offset int64 = -1
		for _, kv := range s.Attributes() {
			if kv.Key == telemetry.MessagingKafkaOffset {
				offset = kv.Value.AsInt64()
			}
		}
		byValue[fmt.Sprintf("v%d", offset)] = s
	}
	if len(byValue) != n {
		t.Fatalf("%d consumer spans for %d records", len(byValue), n)
	}
	for value, parent := range producerSpans {
		s := byValue[value]
		if s == nil {
			t.Fatalf("no consumer span for %s", value)
		}
		if s.Parent().SpanID() != parent.SpanID() || s.SpanContext().TraceID() != parent.TraceID() {
			t.Fatalf("span of %s: parent %v in trace %v, want producer span %v in trace %v",
				value, s.Parent().SpanID(), s.SpanContext().TraceID(), parent.SpanID(), parent.TraceID())
		}
		wantErr := value == "v3"
		if (s.Status().Code == codes.Error) != wantErr {
			t.Fatalf("span of %s: status %v", value, s.Status())
		}
	}

	// Metrics.
	topic := telemetry.MessagingDestinationName.String("in")
	if got := sumOf(t, rm, MetricRecordsConsumed, topic); got != n {
		t.Fatalf("consumed = %d, want %d", got, n)
	}
	if got := sumOf(t, rm, MetricRecordsDeadLettered, topic); got != 1 {
		t.Fatalf("dead_lettered = %d, want 1", got)
	}
	if got := sumOf(t, rm, MetricRecordsFailed, telemetry.ErrorType.String("permanent")); got != 1 {
		t.Fatalf("failed (permanent) = %d, want 1", got)
	}
	h := histogramOf(t, rm, MetricHandlerDuration, topic)
	if h.Count != n {
		t.Fatalf("handler.duration count = %d, want %d", h.Count, n)
	}
	if minV, ok := h.Min.Value(); !ok || minV < handlerTime.Seconds() {
		t.Fatalf("handler.duration min = %v, want at least %v s", minV, handlerTime.Seconds())
	}
	if h.Sum < n*handlerTime.Seconds() || h.Sum > 10 {
		t.Fatalf("handler.duration sum = %v s for %d calls of %v", h.Sum, n, handlerTime)
	}
	if got := sumOf(t, rm, MetricRecordsConsumed, topic, telemetry.SystemKafka,
		telemetry.MessagingOperationName.String("poll"), telemetry.MessagingOperationType.String("receive"),
		telemetry.MessagingClientID.String("bulwark"), telemetry.MessagingConsumerGroupName.String("g-tel")); got != n {
		t.Fatalf("consumed with the messaging attributes = %d, want %d", got, n)
	}
	if p := histogramOf(t, rm, MetricHandlerDuration, topic, telemetry.SystemKafka,
		telemetry.MessagingOperationName.String("process")); p.Count != n {
		t.Fatalf("process duration with the messaging attributes: count %d, want %d", p.Count, n)
	}
	if cm := histogramOf(t, rm, MetricCommitDuration, telemetry.SystemKafka,
		telemetry.MessagingOperationName.String("commit"), telemetry.MessagingOperationType.String("settle")); cm.Count < 1 {
		t.Fatalf("commit duration count %d, want at least 1", cm.Count)
	}
	if got := gaugeOf(t, rm, MetricLag, telemetry.MessagingDestinationPart.String("0")); got != 0 {
		t.Fatalf("lag = %d once caught up, want 0", got)
	}
	if got := gaugeOf(t, rm, MetricInFlight); got != 0 {
		t.Fatalf("in_flight = %d once idle, want 0", got)
	}
}

// find returns the metric called name.
func find(t *testing.T, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("metric %s not recorded", name)
	return metricdata.Metrics{}
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

func sumOf(t *testing.T, rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	var total int64
	for _, dp := range find(t, rm, name).Data.(metricdata.Sum[int64]).DataPoints {
		if hasAll(dp.Attributes, attrs) {
			total += dp.Value
		}
	}
	return total
}

func histogramOf(t *testing.T, rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	for _, dp := range find(t, rm, name).Data.(metricdata.Histogram[float64]).DataPoints {
		if hasAll(dp.Attributes, attrs) {
			return dp
		}
	}
	t.Fatalf("no %s data point with %v", name, attrs)
	return metricdata.HistogramDataPoint[float64]{}
}

func gaugeOf(t *testing.T, rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	for _, dp := range find(t, rm, name).Data.(metricdata.Gauge[int64]).DataPoints {
		if hasAll(dp.Attributes, attrs) {
			return dp.Value
		}
	}
	t.Fatalf("no %s data point with %v", name, attrs)
	return 0
}

// A 2 ms handler call and a 2 ms commit land in buckets at or below 5 ms.
func TestDurationHistogramBuckets(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1})
	mp, r := telemetrytest.Reader(t)
	c, err := New(cl.Brokers(), "g-buckets", []string{"in"}, newRecorder(nil), fastOpts(cl, WithMeterProvider(mp))...)
	if err != nil {
		t.Fatal(err)
	}
	h := c.tel.timed(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		time.Sleep(2 * time.Millisecond)
		return nil
	}))
	if err := h.Handle(context.Background(), &bulwark.Message{Topic: "in"}); err != nil {
		t.Fatal(err)
	}
	c.tel.commitDone(2*time.Millisecond, nil)
	for _, name := range []string{MetricHandlerDuration, MetricCommitDuration} {
		telemetrytest.AssertDurationBuckets(t, name, telemetrytest.Histogram(t, r, name))
	}
}

// Run logs with its context, so that a handler can put the trace ID of a
// span in it on the consumer's lines (here the WARN of a missing topic).
func TestLogsCarryRunsContext(t *testing.T) {
	cl := newCluster(t, map[string]int32{"present": 1})
	logs := &logtest.Buffer{}
	c, err := New(cl.Brokers(), "g-logctx", []string{"late"}, newRecorder(nil),
		fastOpts(cl, WithWaitForTopics(), WithLogger(logs.TraceLogger(slog.LevelInfo)))...)
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
	})
	ctx, cancel := context.WithCancel(trace.ContextWithSpanContext(context.Background(), sc))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	want := `msg="waiting for topics to be created" group=g-logctx topics=late next_check=`
	waitFor(t, 10*time.Second, "the WARN of the missing topic", func() bool { return strings.Contains(logs.String(), want) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, want) && !strings.Contains(line, "trace_id="+sc.TraceID().String()) {
			t.Fatalf("logged without Run's context: %s", line)
		}
	}
}
