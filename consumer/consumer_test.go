package consumer

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
)

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestNewRejectsBadConfig(t *testing.T) {
	h := bulwark.HandlerFunc(func(_ context.Context, _ *bulwark.Message) error { return nil })
	for name, tc := range map[string]struct {
		brokers []string
		group   string
		topics  []string
		h       bulwark.Handler
		opts    []Option
		want    error
	}{
		"no brokers":       {nil, "g", []string{"t"}, h, nil, ErrInvalidConfig},
		"no group":         {[]string{"b:9092"}, "", []string{"t"}, h, nil, ErrInvalidConfig},
		"no topics":        {[]string{"b:9092"}, "g", nil, h, nil, ErrInvalidConfig},
		"nil handler":      {[]string{"b:9092"}, "g", []string{"t"}, nil, nil, ErrInvalidConfig},
		"workers":          {[]string{"b:9092"}, "g", []string{"t"}, h, []Option{WithKeyOrdering(0)}, ErrInvalidConfig},
		"in flight":        {[]string{"b:9092"}, "g", []string{"t"}, h, []Option{WithMaxInFlight(0, 1)}, ErrInvalidConfig},
		"retry":            {[]string{"b:9092"}, "g", []string{"t"}, h, []Option{WithRetry(0, 0, 0)}, ErrInvalidConfig},
		"heartbeat":        {[]string{"b:9092"}, "g", []string{"t"}, h, []Option{WithHeartbeatInterval(time.Minute)}, ErrInvalidConfig},
		"bad conn setting": {[]string{"b:9092"}, "g", []string{"t"}, h, []Option{WithConnection(conn.WithClientID("bad id"))}, conn.ErrInvalidSettings},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.brokers, tc.group, tc.topics, tc.h, tc.opts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestConsumesEveryRecordAndCommits(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 3})
	produce(t, cl, "in", 300, func(i int) string { return string(rune('a' + i%7)) })
	rec := newRecorder(nil)
	c, err := New(cl.Brokers(), "g1", []string{"in"}, rec, fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 20*time.Second, "300 records", func() bool { return rec.distinct() == 300 })
	waitFor(t, 10*time.Second, "commits of 300", func() bool { return sum(committed(t, cl, "g1", "in")) == 300 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Handled != 300 || st.InFlightRecords != 0 {
		t.Fatalf("stats: handled %d, in flight %d", st.Handled, st.InFlightRecords)
	}
	if err := c.Run(t.Context()); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Run: %v", err)
	}
}
