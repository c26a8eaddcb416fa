package producer_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTransactional(t *testing.T, c *kafkatest.Cluster, id string, opts ...producer.Option) *producer.TransactionalProducer {
	t.Helper()
	p, err := producer.NewTransactional(c.Brokers(), id, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func sendAll(ctx context.Context, tx *producer.Txn, topic string, values ...string) error {
	for _, v := range values {
		if _, err := tx.Send(ctx, &bulwark.Message{Topic: topic, Key: []byte(v), Value: []byte(v)}); err != nil {
			return err
		}
	}
	return nil
}

func values(recs []*bulwark.Message) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	sort.Strings(out)
	return out
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

func TestCommittedTransactionsVisibleAbortedOnesNot(t *testing.T) {
	const topic = "tx"
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 3))
	p := newTransactional(t, c, "tx-visibility")
	ctx := ctxFor(t, 60*time.Second)

	require.NoError(t, p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		return sendAll(ctx, tx, topic, seq("commit1", 10)...)
	}))

	errBusiness := errors.New("business rule says no")
	err := p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		if err := sendAll(ctx, tx, topic, seq("abort-error", 10)...); err != nil {
			return err
		}
		return errBusiness
	})
	assert.ErrorIs(t, err, errBusiness, "fn's own error comes back after the abort")

	assert.PanicsWithValue(t, "half way", func() {
		_ = p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
			require.NoError(t, sendAll(ctx, tx, topic, seq("abort-panic", 5)...))
			panic("half way")
		})
	}, "the panic is re-raised after the abort")

	// Records sent with SendAsync are part of the transaction too: commit
	// waits for them.
	require.NoError(t, p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		for _, v := range seq("commit2", 10) {
			tx.SendAsync(ctx, &bulwark.Message{Topic: topic, Key: []byte(v), Value: []byte(v)}, func(_ producer.Result, err error) {
				assert.NoError(t, err)
			})
		}
		return nil
	}))

	committed := values(readTopic(t, c, topic, kafkatest.ReadCommitted()))
	assert.Equal(t, append(seq("commit1", 10), seq("commit2", 10)...), committed)

	// The aborted records were written, then aborted: a read_uncommitted
	// reader sees them, so the check above is not vacuous.
	all := values(readTopic(t, c, topic))
	assert.Len(t, all, 35)
	assert.Contains(t, all, "abort-error-00")
	assert.Contains(t, all, "abort-panic-04")
}

func TestTxnIsUnusableAfterItsCallReturns(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("tx", 1))
	p := newTransactional(t, c, "tx-escape")
	ctx := ctxFor(t, 30*time.Second)
	var kept *producer.Txn
	require.NoError(t, p.InTransaction(ctx, func(_ context.Context, tx *producer.Txn) error { kept = tx; return nil }))
	_, err := kept.Send(ctx, &bulwark.Message{Topic: "tx", Value: []byte("late")})
	assert.ErrorIs(t, err, producer.ErrTxnFinished)
}

func TestSecondProducerWithSameIDFencesTheFirst(t *testing.T) {
	const topic, id = "fence", "tx-fence"
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 3))
	ctx := ctxFor(t, 60*time.Second)
	first := newTransactional(t, c, id)

	var second *producer.TransactionalProducer
	err := first.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		require.NoError(t, sendAll(ctx, tx, topic, "zombie-1"))
		// A new instance starts while this transaction is open: the cluster
		// fences this producer and aborts its transaction.
		second = newTransactional(t, c, id)
		return sendAll(ctx, tx, topic, "zombie-2")
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, producer.ErrFenced)
	assert.ErrorIs(t, err, bulwark.ErrFenced, "the one fencing sentinel")
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err), "fencing is not the record's fault")
	var te *producer.TxnError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, producer.TxnFenced, te.Kind)
	assert.Equal(t, "fenced", te.Kind.String())

	// The fenced producer refuses further work, saying why.
	start := time.Now()
	err = first.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		t.Error("fn must not run on a fenced producer")
		return nil
	})
	assert.ErrorIs(t, err, producer.ErrFenced)
	assert.ErrorIs(t, err, bulwark.ErrFenced)
	assert.Contains(t, err.Error(), "unusable")
	assert.Less(t, time.Since(start), time.Second, "refused at once")

	require.NoError(t, second.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		return sendAll(ctx, tx, topic, "successor-1", "successor-2")
	}))
	assert.Equal(t, []string{"successor-1", "successor-2"}, values(readTopic(t, c, topic, kafkatest.ReadCommitted())))
}

func TestProducerFencedWhileIdleFailsItsNextTransaction(t *testing.T) {
	const topic, id = "fence-idle", "tx-fence-idle"
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	ctx := ctxFor(t, 60*time.Second)
	first := newTransactional(t, c, id)
	require.NoError(t, first.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		return sendAll(ctx, tx, topic, "before")
	}))
	newTransactional(t, c, id)

	err := first.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		return sendAll(ctx, tx, topic, "after-fencing")
	})
	assert.ErrorIs(t, err, producer.ErrFenced)
	err = first.InTransaction(ctx, func(context.Context, *producer.Txn) error { return nil })
	assert.ErrorIs(t, err, producer.ErrFenced)
	assert.ErrorIs(t, err, bulwark.ErrFenced)
	assert.Equal(t, []string{"before"}, values(readTopic(t, c, topic, kafkatest.ReadCommitted())))
}

func TestFailedRecordAbortsTheTransactionAndTheProducerStaysUsable(t *testing.T) {
	const topic = "abortable"
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	p := newTransactional(t, c, "tx-abortable")
	ctx := ctxFor(t, 60*time.Second)

	// CONCURRENT_TRANSACTIONS on produce is not retried by the client: the
	// record fails and the transaction can only be aborted.
	c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic,
		Err: kafkatest.ConcurrentTransactions, Count: 1})
	var recordErr error
	err := p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		// The failure is ignored here on purpose: commit must catch it.
		tx.SendAsync(ctx, &bulwark.Message{Topic: topic, Value: []byte("doomed")}, func(_ producer.Result, err error) { recordErr = err })
		return nil
	})
	require.Error(t, err)
	assert.Error(t, recordErr)
	assert.ErrorIs(t, err, producer.ErrAbortable)
	assert.NotErrorIs(t, err, producer.ErrFenced)
	assert.NotErrorIs(t, err, bulwark.ErrFenced)
	assert.NotEqual(t, bulwark.ClassPause, bulwark.ClassOf(err), "an abortable failure is not fencing")

	require.NoError(t, p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		return sendAll(ctx, tx, topic, "next")
	}), "the producer is usable after an abortable failure")
	assert.Equal(t, []string{"next"}, values(readTopic(t, c, topic, kafkatest.ReadCommitted())))
}

func TestTransactionalCloseRefusesLaterTransactions(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("tx", 1))
	p, err := producer.NewTransactional(c.Brokers(), "tx-close")
	require.NoError(t, err)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	err = p.InTransaction(ctxFor(t, 5*time.Second), func(context.Context, *producer.Txn) error { return nil })
	assert.ErrorIs(t, err, bulwark.ErrClosed)
}
