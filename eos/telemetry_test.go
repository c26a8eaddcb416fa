package eos_test

import (
	"context"
	"errors"
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

// The transaction histograms: one records-per-transaction and one
// commit-latency point per committed transaction, none for aborted ones;
// every input is counted in exactly one committed transaction.
func TestTransactionHistograms(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 3), kafkatest.WithTopic("out", 3))
	produceInputs(t, c, "in", 1000, 50)
	m := newMetrics()
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "hist", eos.HandlerFunc(
		func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
			if in.Offset%97 == 5 && in.Attempt == 1 {
				return errors.New("transient") // aborts the transaction once
			}
			out.Emit(copyOutput(in, "out"))
			return nil
		}), testOpts(eos.WithMeterProvider(m.mp))...)
	require.NoError(t, err)
	began := time.Now()
	stop := runSession(t, s)
	waitFor(t, 30*time.Second, "all committed", func() bool { return committedSum(c, "g", "in") == 1000 })
	require.NoError(t, stop())
	elapsed := time.Since(began)

	group := []string{"messaging.consumer.group.name", "g"}
	commits := m.sum(t, eos.MetricCommits, group...)
	require.Positive(t, commits)
	require.GreaterOrEqual(t, m.sum(t, eos.MetricAborts, "reason", "handler-retry"), int64(1))

	recs := m.hist(t, eos.MetricTransactionRecords, group...)
	require.Equal(t, uint64(commits), recs.count, "one records point per committed transaction")
	require.Equal(t, 1000.0, recs.sum, "every input counted in exactly one committed transaction")
	require.GreaterOrEqual(t, recs.min, 1.0)
	require.LessOrEqual(t, recs.max, 100.0, "a transaction held more than the batch size")

	lat := m.hist(t, eos.MetricCommitDuration, group...)
	require.Equal(t, uint64(commits), lat.count, "one latency point per committed transaction")
	require.Positive(t, lat.min)
	// Commits run one after another on one goroutine: together they cannot
	// have taken longer than the run.
	require.LessOrEqual(t, lat.sum, elapsed.Seconds())
	t.Logf("commits %d; records per transaction min %v max %v; commit latency sum %.3fs max %.3fs over %v",
		commits, recs.min, recs.max, lat.sum, lat.max, elapsed.Round(time.Millisecond))
	// Each input's handler calls, a retried one's too.
	require.GreaterOrEqual(t, m.hist(t, eos.MetricProcessDuration, group...).count, uint64(1000))
	// Stats tells the program what the metrics tell the operator.
	st := s.Stats()
	require.Equal(t, commits, st.Commits)
	require.Equal(t, m.sum(t, eos.MetricAborts, group...), st.Aborts)
	require.GreaterOrEqual(t, st.Aborts, int64(1))
	require.EqualValues(t, 1000, st.RecordsProcessed)
	require.False(t, st.LastCommit.Before(began), "last commit %v before the run began %v", st.LastCommit, began)
	require.Positive(t, st.LastCommitLatency)
	checkExactlyOnce(t, c, "g", "in", "out")
}
