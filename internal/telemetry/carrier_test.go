package telemetry_test

import (
	"context"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestInjectExtractRoundTrip(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("test").Start(context.Background(), "send")
	defer span.End()

	msg := &bulwark.Message{Headers: []bulwark.Header{{Key: "other", Value: []byte("x")}}}
	telemetry.Inject(ctx, msg)
	tp1, ok := msg.Header("traceparent")
	require.True(t, ok, "W3C traceparent header written")
	assert.Contains(t, string(tp1), span.SpanContext().TraceID().String())

	got := trace.SpanContextFromContext(telemetry.Extract(context.Background(), msg))
	assert.True(t, got.IsRemote())
	assert.Equal(t, span.SpanContext().TraceID(), got.TraceID())
	assert.Equal(t, span.SpanContext().SpanID(), got.SpanID())

	// Injecting again replaces the header instead of adding a second one.
	telemetry.Inject(ctx, msg)
	n := 0
	for _, h := range msg.Headers {
		if h.Key == "traceparent" {
			n++
		}
	}
	assert.Equal(t, 1, n)
	assert.ElementsMatch(t, []string{"other", "traceparent"}, telemetry.HeaderCarrier{Msg: msg}.Keys())
}

func TestExtractWithoutHeadersGivesNoSpan(t *testing.T) {
	got := trace.SpanContextFromContext(telemetry.Extract(context.Background(), &bulwark.Message{}))
	assert.False(t, got.IsValid())
}
