package eos_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/internal/saramametrics"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// A session's producer and group clients report their broker figures
// through its meter provider while it runs, and stop when Run returns.
func TestBrokerMetricsWhileRunning(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 1), kafkatest.WithTopic("out", 1))
	produceInputs(t, c, "in", 10, 5)
	m := newMetrics()
	s, err := eos.New(c.Brokers(), "g-broker", []string{"in"}, "broker-metrics", eos.HandlerFunc(
		func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
			out.Emit(copyOutput(in, "out"))
			return nil
		}), testOpts(eos.WithMeterProvider(m.mp))...)
	require.NoError(t, err)
	stop := runSession(t, s)
	waitFor(t, 30*time.Second, "all committed", func() bool { return committedSum(c, "g-broker", "in") == 10 })
	require.Positive(t, m.sum(t, saramametrics.MetricRequests))
	require.Positive(t, m.sum(t, saramametrics.MetricIO, "network.io.direction", "transmit"))
	require.NoError(t, stop())
	require.Zero(t, m.sum(t, saramametrics.MetricRequests), "reported after Run returned")
}
