package telemetry

import (
	"context"

	"github.com/bulwarkgo/bulwark"
	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier adapts a record's headers to propagation.TextMapCarrier.
type HeaderCarrier struct{ Msg *bulwark.Message }

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the value of the last header named key.
func (c HeaderCarrier) Get(key string) string {
	v, _ := c.Msg.Header(key)
	return string(v)
}

// Set replaces the header named key.
func (c HeaderCarrier) Set(key, value string) { c.Msg.SetHeader(key, []byte(value)) }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c.Msg.Headers))
	for _, h := range c.Msg.Headers {
		keys = append(keys, h.Key)
	}
	return keys
}

// Propagator is the W3C trace-context plus baggage propagator used for
// record headers, independent of whatever the global propagator is, so that
// producers and consumers of different services always agree.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{}, propagation.Baggage{})

// Inject writes the span context of ctx into msg's headers.
func Inject(ctx context.Context, msg *bulwark.Message) { Propagator.Inject(ctx, HeaderCarrier{msg}) }

// Extract returns ctx with the span context found in msg's headers.
func Extract(ctx context.Context, msg *bulwark.Message) context.Context {
	return Propagator.Extract(ctx, HeaderCarrier{msg})
}
