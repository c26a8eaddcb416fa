package producer_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestSpanPerRecordTraceContextInHeadersAndMetrics(t *testing.T) {
	const topic = "tel"
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	p := newProducer(t, c, producer.WithTracerProvider(tp), producer.WithMeterProvider(mp), producer.WithMaxRecordBytes(512))

	ctx, parent := tp.Tracer("test").Start(ctxFor(t, 30*time.Second), "handle order")
	results := map[string]producer.Result{}
	for i := range 3 {
		v := strconv.Itoa(i)
		res, err := p.Send(ctx, &bulwark.Message{Topic: topic, Key: []byte(v), Value: []byte(v)})
		require.NoError(t, err)
		results[v] = res
	}
	_, err := p.Send(ctx, &bulwark.Message{Topic: topic, Value: make([]byte, 1024)})
	require.Error(t, err, "too large")
	parent.End()

	// One producer span per record, children of the caller's span.
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var producerSpans []sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.SpanKind() == trace.SpanKindProducer {
			producerSpans = append(producerSpans, s)
			byID[s.SpanContext().SpanID()] = s
		}
	}
	require.Len(t, producerSpans, 4)
	for _, s := range producerSpans {
		assert.Equal(t, "send "+topic, s.Name())
		assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID())
		attrs := attribute.NewSet(s.Attributes()...)
		v, _ := attrs.Value("messaging.system")
		assert.Equal(t, "kafka", v.AsString())
		v, _ = attrs.Value("messaging.destination.name")
		assert.Equal(t, topic, v.AsString())
		v, _ = attrs.Value("messaging.operation.type")
		assert.Equal(t, "send", v.AsString())
		v, _ = attrs.Value("messaging.client.id")
		assert.Equal(t, "bulwark", v.AsString())
	}

	// Each record read back carries its own span's context and message ID.
	recs := readTopic(t, c, topic)
	require.Len(t, recs, 3)
	for _, r := range recs {
		tp, ok := r.Header("traceparent")
		require.True(t, ok, "traceparent header on record %s", r.Value)
		sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
			propagation.MapCarrier{"traceparent": string(tp)}))
		require.True(t, sc.IsValid())
		assert.Equal(t, parent.SpanContext().TraceID(), sc.TraceID())
		s, ok := byID[sc.SpanID()]
		require.True(t, ok, "traceparent names a producer span")
		attrs := attribute.NewSet(s.Attributes()...)
		id, _ := attrs.Value("messaging.message.id")
		assert.Equal(t, r.MessageID(), id.AsString())
		part, _ := attrs.Value("messaging.destination.partition.id")
		assert.Equal(t, strconv.Itoa(int(r.Partition)), part.AsString())
		off, _ := attrs.Value("messaging.kafka.offset")
		assert.Equal(t, r.Offset, off.AsInt64())
		assert.Equal(t, results[string(r.Value)].Offset, r.Offset)
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	metrics := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			metrics[m.Name] = m.Data
		}
	}
	sent := metrics[producer.MetricRecordsSent].(metricdata.Sum[int64])
	require.Len(t, sent.DataPoints, 1)
	assert.EqualValues(t, 3, sent.DataPoints[0].Value)
	dest, _ := sent.DataPoints[0].Attributes.Value("messaging.destination.name")
	assert.Equal(t, topic, dest.AsString())
	for k, want := range map[string]string{"messaging.system": "kafka", "messaging.operation.name": "send",
		"messaging.operation.type": "send", "messaging.client.id": "bulwark", "server.address": "127.0.0.1"} {
		v, _ := sent.DataPoints[0].Attributes.Value(attribute.Key(k))
		assert.Equal(t, want, v.AsString(), k)
	}

	failed := metrics[producer.MetricRecordsFailed].(metricdata.Sum[int64])
	require.Len(t, failed.DataPoints, 1)
	assert.EqualValues(t, 1, failed.DataPoints[0].Value)
	class, _ := failed.DataPoints[0].Attributes.Value("error.type")
	assert.Equal(t, "permanent", class.AsString())

	duration := metrics[producer.MetricSendDuration].(metricdata.Histogram[float64])
	require.Len(t, duration.DataPoints, 1)
	assert.EqualValues(t, 4, duration.DataPoints[0].Count)

	inFlight := metrics[producer.MetricRecordsInFlight].(metricdata.Sum[int64])
	require.Len(t, inFlight.DataPoints, 1)
	assert.EqualValues(t, 0, inFlight.DataPoints[0].Value, "every record settled")
}

func TestTransactionMetrics(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	reader := sdkmetric.NewManualReader()
	p := newTransactional(t, c, "tx-metrics", producer.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	ctx := ctxFor(t, 30*time.Second)
	require.NoError(t, p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error { return sendAll(ctx, tx, "t", "a") }))
	_ = p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error { return assert.AnError })

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && len(s.DataPoints) > 0 {
				got[m.Name] = s.DataPoints[0].Value
			}
		}
	}
	assert.EqualValues(t, 1, got[producer.MetricTxnCommits])
	assert.EqualValues(t, 1, got[producer.MetricTxnAborts])
}
