package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Not parallel: it replaces the process's default logger for a moment.
func TestDefaultPassesWarnAndAboveToSlogDefault(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })

	l := Default().With("group", "g")
	l.Debug("debug line")
	l.Info("info line")
	l.Warn("warn line")
	l.Error("error line")
	out := buf.String()
	for _, want := range []string{"warn line", "error line", "group=g"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	for _, not := range []string{"debug line", "info line"} {
		if strings.Contains(out, not) {
			t.Errorf("output %q has %q, below WARN", out, not)
		}
	}
}
