// Package logtest has what tests need to assert on log output: a sink
// that the code under test may write to from any goroutine.
package logtest

import (
	"bytes"
	"context"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// Buffer collects log output; safe for concurrent use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a text logger writing to b from level on.
func (b *Buffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}

// TraceLogger is Logger with the trace ID of the span in each call's
// context added as trace_id (as a handler that correlates logs with
// traces does): a line logged without the context, or with one that has
// no span, has none.
func (b *Buffer) TraceLogger(level slog.Level) *slog.Logger {
	return slog.New(traceHandler{slog.NewTextHandler(b, &slog.HandlerOptions{Level: level})})
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
