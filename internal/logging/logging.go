// Package logging gives bulwark's packages their logger when the
// user passes none: slog.Default() restricted to WARN and above, so what an
// operator must see (a missing topic, a partition blocked on a dead-letter
// write, a failed rejoin) reaches the process's log with no configuration,
// while the routine INFO and DEBUG lines stay quiet.
//
// Every package logs an error under the one key [ErrorKey], and logs with
// the context (WarnContext and the like) wherever one is at hand, so that a
// handler can attach the trace and span IDs of the span in it.
package logging

import (
	"context"
	"log/slog"
)

// ErrorKey is the key every log line puts its error under.
const ErrorKey = "error"

// Default returns slog.Default(), as it is when called, passing only
// records at WARN and above.
func Default() *slog.Logger {
	return slog.New(warnOnly{slog.Default().Handler()})
}

// warnOnly drops records below WARN before its handler sees them.
type warnOnly struct{ h slog.Handler }

func (w warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.h.Enabled(ctx, l)
}

func (w warnOnly) Handle(ctx context.Context, r slog.Record) error { return w.h.Handle(ctx, r) }

func (w warnOnly) WithAttrs(as []slog.Attr) slog.Handler { return warnOnly{w.h.WithAttrs(as)} }

func (w warnOnly) WithGroup(name string) slog.Handler { return warnOnly{w.h.WithGroup(name)} }
