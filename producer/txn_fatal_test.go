package producer_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// transactionalIDAuthorizationFailed is Kafka's
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
const transactionalIDAuthorizationFailed kafkatest.KafkaError = 53

func TestTransactionalIDNotAuthorisedIsFatalNotFenced(t *testing.T) {
	const (
		topic = "authz"
		id    = "tx-authz"
	)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	p := newTransactional(t, c, id)
	ctx := ctxFor(t, 60*time.Second)

	// The ACLs stop allowing the ID: no other producer took it over, so
	// "fenced" (start a fresh instance) would be the wrong advice. Denied on
	// EndTxn: on AddPartitionsToTxn it runs into sarama's own data race
	// (IBM/sarama#2913) under -race.
	h := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.EndTxn}, TxnID: id,
		Err: transactionalIDAuthorizationFailed, Count: -1})
	defer h.Remove()
	err := p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		return sendAll(ctx, tx, topic, "denied")
	})
	require.Error(t, err)
	assert.Positive(t, h.Hits(), "the fault was hit")
	assert.ErrorIs(t, err, producer.ErrFatal)
	assert.NotErrorIs(t, err, producer.ErrFenced)
	assert.NotErrorIs(t, err, bulwark.ErrFenced)
	assert.NotErrorIs(t, err, producer.ErrAbortable)
	var te *producer.TxnError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, producer.TxnFatal, te.Kind)

	// Fatal means unusable: the next transaction is refused at once, with
	// the same class, and nothing was written.
	h.Remove()
	err = p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		return sendAll(ctx, tx, topic, "after")
	})
	assert.ErrorIs(t, err, producer.ErrFatal)
	assert.Empty(t, readTopic(t, c, topic, kafkatest.ReadCommitted()))
}
