package eos_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Every transaction has a span that links the spans of its input records,
// and its outputs carry the transaction's trace context.
func TestTransactionSpansLinkInputs(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 2), kafkatest.WithTopic("out", 2))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	// Inputs written by a traced producer: each record carries its send
	// span's context.
	p, err := producer.New(c.Brokers(), producer.WithTracerProvider(tp))
	require.NoError(t, err)
	inputs := map[trace.SpanID]bool{}
	for i := range 40 {
		ctx, parent := tp.Tracer("test").Start(context.Background(), "place order")
		_, err := p.Send(ctx, &bulwark.Message{Topic: "in", Key: []byte(fmt.Sprint(i % 5)), Value: []byte(fmt.Sprint(i))})
		require.NoError(t, err)
		parent.End()
	}
	require.NoError(t, p.Close())
	for _, s := range spans.Ended() {
		if s.SpanKind() == trace.SpanKindProducer {
			inputs[s.SpanContext().SpanID()] = true
		}
	}
	require.Len(t, inputs, 40, "one producer span per input")

	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "traced", copyHandler(),
		testOpts(eos.WithTracerProvider(tp))...)
	require.NoError(t, err)
	stop := runSession(t, s)
	waitFor(t, 30*time.Second, "all committed", func() bool { return committedSum(c, "g", "in") == 40 })
	require.NoError(t, stop())

	txnSpans := map[trace.SpanID]bool{}
	linked := map[trace.SpanID]bool{}
	for _, sp := range spans.Ended() {
		if sp.Name() != "eos transaction" {
			continue
		}
		txnSpans[sp.SpanContext().SpanID()] = true
		for _, l := range sp.Links() {
			linked[l.SpanContext.SpanID()] = true
		}
	}
	require.NotEmpty(t, txnSpans, "no transaction span")
	for id := range inputs {
		assert.True(t, linked[id], "input span %s not linked from any transaction span", id)
	}
	outs, err := c.ReadTopic(context.Background(), "out", kafkatest.ReadCommitted())
	require.NoError(t, err)
	require.Len(t, outs, 40)
	for _, o := range outs {
		sc := trace.SpanContextFromContext(telemetry.Extract(context.Background(), o))
		require.True(t, sc.IsValid(), "output %s has no trace context", o.Value)
		// The output's producer span is a child of a transaction span, or
		// the transaction span itself is the parent in the headers.
		if !txnSpans[sc.SpanID()] {
			var parentIsTxn bool
			for _, sp := range spans.Ended() {
				if sp.SpanContext().SpanID() == sc.SpanID() && txnSpans[sp.Parent().SpanID()] {
					parentIsTxn = true
				}
			}
			assert.True(t, parentIsTxn, "output %s is not traced under a transaction span", o.Value)
		}
	}
}
