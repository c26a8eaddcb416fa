package eos_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
	"github.com/bulwarkgo/bulwark/internal/logtest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestFaultMatrix proves eos's cells of the fault matrix (issue 17).
func TestFaultMatrix(t *testing.T) {
	for _, tc := range []struct {
		cell faultmatrix.Cell
		run  func(t *testing.T)
	}{
		{faultmatrix.Cell{Fault: "missing input topic", Component: "eos",
			Bound: "Run returns within 10 s", Outcome: "ErrUnknownTopic naming the topic", Records: "-"}, eosMissingTopic},
		{faultmatrix.Cell{Fault: "missing input topic, WithWaitForTopics", Component: "eos",
			Bound: "wait visible within 10 s; done within 30 s of the create", Outcome: "topics.missing gauge, WARN; then progress",
			Records: "0 lost, outputs exactly once"}, eosWaitForTopic},
		{faultmatrix.Cell{Fault: "empty or invalid topic name", Component: "eos",
			Bound: "New returns at once", Outcome: "ErrInvalidConfig naming the topic", Records: "-"}, eosBadTopicName},
		{faultmatrix.Cell{Fault: "DLT writes failing", Component: "eos",
			Bound: "done within 30 s of the repair", Outcome: "transactions abort and retry with growing backoff, then progress",
			Records: "0 lost, 1 dead letter, outputs exactly once, poison record's handler once"}, eosDLTWritesFailing},
		{faultmatrix.Cell{Fault: "missing DLT", Component: "eos",
			Bound: "done within 30 s of the create", Outcome: "WARN at start and on repeated aborts; transactions abort and retry, then progress",
			Records: "0 lost, 1 dead letter, outputs exactly once, poison record's handler once"}, eosMissingDLT},
		{faultmatrix.Cell{Fault: "default logger (no WithLogger)", Component: "eos",
			Bound: "WARN within 10 s", Outcome: "WARN+ reaches slog.Default(), INFO does not", Records: "-"}, eosDefaultLogger},
	} {
		t.Run(tc.cell.Fault, func(t *testing.T) {
			faultmatrix.Report(t, tc.cell)
			tc.run(t)
		})
	}
}

func copyTo(out string) eos.Handler {
	return eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, e eos.Emitter) error {
		e.Emit(copyOutput(in, out))
		return nil
	})
}

func eosMissingTopic(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 1), kafkatest.WithTopic("out", 1))
	s, err := eos.New(c.Brokers(), "g", []string{"in", "ghost"}, "missing", copyTo("out"), testOpts()...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = s.Run(ctx)
	require.Less(t, time.Since(start), 10*time.Second)
	require.ErrorIs(t, err, eos.ErrUnknownTopic)
	require.Contains(t, err.Error(), "ghost")
	require.NotContains(t, err.Error(), "in,")
}

func eosWaitForTopic(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("out", 1))
	m := newMetrics()
	logs := &logtest.Buffer{}
	s, err := eos.New(c.Brokers(), "g", []string{"late"}, "wait", copyTo("out"),
		testOpts(eos.WithWaitForTopics(), eos.WithMeterProvider(m.mp), eos.WithLogger(logs.Logger(slog.LevelInfo)))...)
	require.NoError(t, err)
	stop := runSession(t, s)
	waitFor(t, 10*time.Second, "the WARN naming the topic", func() bool {
		return strings.Contains(logs.String(), `level=WARN msg="eos: waiting for input topics to be created" topics=late`)
	})
	require.Equal(t, int64(1), m.gauge(t, "bulwark.eos.topics.missing"))
	require.NoError(t, c.CreateTopic(context.Background(), "late", 1, nil))
	produceInputs(t, c, "late", 20, 5)
	waitFor(t, 30*time.Second, "all committed", func() bool { return committedSum(c, "g", "late") == 20 })
	require.NoError(t, stop())
	counts := checkExactlyOnce(t, c, "g", "late", "out")
	require.Equal(t, 20, counts["out"])
	require.Equal(t, int64(0), m.gauge(t, "bulwark.eos.topics.missing"))
}

func eosBadTopicName(t *testing.T) {
	for _, tc := range []struct {
		topics []string
		opts   []eos.Option
		want   string
	}{
		{[]string{""}, nil, "empty topic name"},
		{[]string{"ok", "bad/name"}, nil, `"bad/name"`},
		{[]string{"ok"}, []eos.Option{eos.WithDeadLetterTopic(func(string) string { return ".." })}, "dead-letter topic"},
	} {
		start := time.Now()
		_, err := eos.New([]string{"127.0.0.1:1"}, "g", tc.topics, "p", copyTo("out"), tc.opts...)
		require.Less(t, time.Since(start), time.Second)
		require.ErrorIs(t, err, eos.ErrInvalidConfig)
		require.Contains(t, err.Error(), tc.want)
	}
}

// poisonCopy copies records to out except offset 4, which fails
// permanently; it counts the poison record's handler calls.
type poisonCopy struct {
	mu     sync.Mutex
	poison int
}

func (p *poisonCopy) Process(_ context.Context, in *bulwark.Message, e eos.Emitter) error {
	if in.Offset == 4 {
		p.mu.Lock()
		p.poison++
		p.mu.Unlock()
		return bulwark.Permanentf("cannot parse record %d", in.Offset)
	}
	e.Emit(copyOutput(in, "out"))
	return nil
}

func (p *poisonCopy) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.poison
}

func eosDLTWritesFailing(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 1), kafkatest.WithTopic("out", 1), kafkatest.WithTopic("in.dlt", 1))
	produceInputs(t, c, "in", 20, 5)
	fault := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: "in.dlt", Count: -1})
	defer fault.Remove()
	m := newMetrics()
	h := &poisonCopy{}
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "dltdown", h, testOpts(eos.WithMeterProvider(m.mp))...)
	require.NoError(t, err)
	stop := runSession(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, fault.Wait(ctx, 2), "dead-letter writes never failed twice")
	require.LessOrEqual(t, committedSum(c, "g", "in"), int64(4), "committed past the record whose dead letter failed")
	fault.Remove()
	checkPoisonOutcome(t, c, h, stop)
	require.GreaterOrEqual(t, m.sum(t, "bulwark.eos.aborts", "reason=produce"), int64(2))
}

// checkPoisonOutcome waits for the 20 inputs to be committed, stops the
// session and checks every record landed once: 19 outputs, 1 dead letter,
// the poison record handled once.
func checkPoisonOutcome(t *testing.T, c *kafkatest.Cluster, h *poisonCopy, stop func() error) {
	t.Helper()
	waitFor(t, 30*time.Second, "all committed", func() bool { return committedSum(c, "g", "in") == 20 })
	require.NoError(t, stop())
	counts := checkExactlyOnce(t, c, "g", "in", "out", "in.dlt")
	require.Equal(t, 19, counts["out"])
	require.Equal(t, 1, counts["in.dlt"])
	require.Equal(t, 1, h.calls(), "a failed dead-letter write must not run the handler again")
}

func eosMissingDLT(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 1), kafkatest.WithTopic("out", 1))
	produceInputs(t, c, "in", 20, 5)
	m := newMetrics()
	h := &poisonCopy{}
	logs := &logtest.Buffer{}
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "nodlt", h,
		testOpts(eos.WithMeterProvider(m.mp), eos.WithLogger(logs.Logger(slog.LevelWarn)))...)
	require.NoError(t, err)
	stop := runSession(t, s)
	waitFor(t, 15*time.Second, "transactions aborted on the missing dead-letter topic, logged at WARN", func() bool {
		return m.sum(t, "bulwark.eos.aborts", "reason=produce") >= 2 &&
			strings.Contains(logs.String(), `level=WARN msg="eos: transaction failed"`)
	})
	require.Contains(t, logs.String(), `level=WARN msg="eos: dead-letter topic missing`)
	require.NoError(t, c.CreateTopic(context.Background(), "in.dlt", 1, nil))
	checkPoisonOutcome(t, c, h, stop)
}

// Not parallel: it replaces the process's default logger for a moment.
func eosDefaultLogger(t *testing.T) {
	logs := &logtest.Buffer{}
	old := slog.Default()
	slog.SetDefault(logs.Logger(slog.LevelDebug))
	t.Cleanup(func() { slog.SetDefault(old) })
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("out", 1))
	s, err := eos.New(c.Brokers(), "g", []string{"ghost"}, "deflog", copyTo("out"), testOpts(eos.WithWaitForTopics())...)
	require.NoError(t, err)
	stop := runSession(t, s)
	waitFor(t, 10*time.Second, "the WARN on slog.Default()", func() bool {
		return strings.Contains(logs.String(), `level=WARN msg="eos: waiting for input topics to be created"`)
	})
	require.NoError(t, stop())
	require.NotContains(t, logs.String(), "level=INFO")
	require.NotContains(t, logs.String(), "level=DEBUG")
}

// gauge returns the last value of int64 gauge name (0 when not observed).
func (m *metricsReader) gauge(t testing.TB, name string) int64 {
	t.Helper()
	var v int64
	for _, mt := range m.metrics(t, name) {
		if g, ok := mt.Data.(metricdata.Gauge[int64]); ok {
			for _, dp := range g.DataPoints {
				v = dp.Value
			}
		}
	}
	return v
}
