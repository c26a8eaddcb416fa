package eos_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// When the cluster stops authorising the transactional ID, no other
// instance took it over: the session stops with a producer error, not with
// ErrFenced (whose advice, "another instance runs", would mislead), and
// nothing it wrote becomes visible. The denial comes on EndTxn: on
// AddPartitionsToTxn it would run into sarama's own data race
// (IBM/sarama#2913) under -race.
func TestTransactionalIDNotAuthorisedStopsWithProducerError(t *testing.T) {
	const transactionalIDAuthorizationFailed kafkatest.KafkaError = 53
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 2), kafkatest.WithTopic("out", 2))
	produceInputs(t, c, "in", 50, 5)
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", eos.HandlerFunc(
		func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
			out.Emit(copyOutput(in, "out"))
			return nil
		}), testOpts(eos.WithInstanceID("authz"))...)
	require.NoError(t, err)
	h := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.EndTxn}, TxnID: s.TransactionalID(),
		Err: transactionalIDAuthorizationFailed, Count: -1})
	defer h.Remove()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = s.Run(ctx)
	require.Error(t, err)
	require.Positive(t, h.Hits(), "the fault was hit")
	require.ErrorIs(t, err, eos.ErrProducerFailed)
	require.NotErrorIs(t, err, eos.ErrFenced)
	require.NotErrorIs(t, err, bulwark.ErrFenced)
	require.NoError(t, ctx.Err(), "Run stopped by itself, not at the test's deadline")
	h.Remove()
	out, err := c.ReadTopic(context.Background(), "out", kafkatest.ReadCommitted())
	require.NoError(t, err)
	require.Empty(t, out, "nothing visible to read_committed")
}
