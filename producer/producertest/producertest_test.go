package producertest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/bulwarkgo/bulwark/producer/producertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fakes have the method sets of the real producers.
type sender interface {
	Send(ctx context.Context, msg *bulwark.Message) (producer.Result, error)
	SendAsync(ctx context.Context, msg *bulwark.Message, done func(producer.Result, error))
	Flush(ctx context.Context) error
	Close() error
}

type transactor interface {
	InTransaction(ctx context.Context, fn func(ctx context.Context, tx *producer.Txn) error) error
	Close() error
}

var (
	_ sender     = (*producer.Producer)(nil)
	_ sender     = (*producertest.Producer)(nil)
	_ transactor = (*producer.TransactionalProducer)(nil)
	_ transactor = (*producertest.TransactionalProducer)(nil)
)

func TestProducerRecordsAssignsOffsetsAndIDs(t *testing.T) {
	p := producertest.New()
	ctx := context.Background()
	r1, err := p.Send(ctx, &bulwark.Message{Topic: "a", Value: []byte("1")})
	require.NoError(t, err)
	r2, err := p.Send(ctx, &bulwark.Message{Topic: "a", Value: []byte("2")})
	require.NoError(t, err)
	r3, err := p.Send(ctx, &bulwark.Message{Topic: "a", Partition: 2, Value: []byte("3"),
		Headers: []bulwark.Header{{Key: bulwark.HeaderMessageID, Value: []byte("mine")}}})
	require.NoError(t, err)
	assert.Equal(t, producer.Result{Topic: "a", Partition: 0, Offset: 0}, r1)
	assert.Equal(t, producer.Result{Topic: "a", Partition: 0, Offset: 1}, r2)
	assert.Equal(t, producer.Result{Topic: "a", Partition: 2, Offset: 0}, r3)

	sent := p.Sent()
	require.Len(t, sent, 3)
	assert.NotEmpty(t, sent[0].MessageID())
	assert.NotEqual(t, sent[0].MessageID(), sent[1].MessageID())
	assert.Equal(t, "mine", sent[2].MessageID())
	sent[0].Value[0] = 'x'
	assert.Equal(t, "1", string(p.Sent()[0].Value), "Sent returns copies")
}

func TestProducerFailsWhenTold(t *testing.T) {
	p := producertest.New()
	ctx := context.Background()
	boom := errors.New("boom")
	p.FailNext(1, boom)
	_, err := p.Send(ctx, &bulwark.Message{Topic: "a", Value: []byte("1")})
	assert.ErrorIs(t, err, boom)
	var asyncErr error
	called := 0
	p.SendAsync(ctx, &bulwark.Message{Topic: "a", Value: []byte("2")}, func(_ producer.Result, err error) { called++; asyncErr = err })
	assert.NoError(t, asyncErr)
	assert.Equal(t, 1, called)

	p.FailWhen(func(m *bulwark.Message) error {
		if string(m.Key) == "bad" {
			return bulwark.Permanent(boom)
		}
		return nil
	})
	_, err = p.Send(ctx, &bulwark.Message{Topic: "a", Key: []byte("bad")})
	assert.Equal(t, bulwark.ClassPermanent, bulwark.ClassOf(err))
	_, err = p.Send(ctx, &bulwark.Message{Topic: "a", Key: []byte("good")})
	assert.NoError(t, err)

	assert.Len(t, p.Sent(), 2)
	assert.Len(t, p.Failed(), 2)
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	_, err = p.Send(ctx, &bulwark.Message{Topic: "a"})
	assert.ErrorIs(t, err, bulwark.ErrClosed)
	assert.True(t, p.Closed())
}

func TestTransactionalRecordsCommitsAndAborts(t *testing.T) {
	tp := producertest.NewTransactional()
	ctx := context.Background()
	send := func(ctx context.Context, tx *producer.Txn, v string) error {
		_, err := tx.Send(ctx, &bulwark.Message{Topic: "out", Value: []byte(v)})
		return err
	}

	require.NoError(t, tp.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		require.NoError(t, send(ctx, tx, "a"))
		return send(ctx, tx, "b")
	}))
	no := errors.New("no")
	assert.ErrorIs(t, tp.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		require.NoError(t, send(ctx, tx, "c"))
		return no
	}), no)
	assert.Panics(t, func() {
		_ = tp.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
			require.NoError(t, send(ctx, tx, "d"))
			panic("oops")
		})
	})
	tp.FailNextCommit(errors.New("coordinator gone"))
	err := tp.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error { return send(ctx, tx, "e") })
	assert.ErrorIs(t, err, producer.ErrAbortable)

	tp.FailNextSend(1, errors.New("record failed"))
	err = tp.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		tx.SendAsync(ctx, &bulwark.Message{Topic: "out", Value: []byte("f")}, nil) // failure ignored
		return nil
	})
	assert.ErrorIs(t, err, producer.ErrAbortable, "a failed record fails the commit")

	values := func(txns [][]*bulwark.Message) [][]string {
		var out [][]string
		for _, txn := range txns {
			var vs []string
			for _, m := range txn {
				vs = append(vs, string(m.Value))
			}
			out = append(out, vs)
		}
		return out
	}
	assert.Equal(t, [][]string{{"a", "b"}}, values(tp.CommittedTransactions()))
	assert.Equal(t, [][]string{{"c"}, {"d"}, {"e"}, nil}, values(tp.AbortedTransactions()))
	committed := tp.Committed()
	require.Len(t, committed, 2)
	assert.Equal(t, []int64{0, 1}, []int64{committed[0].Offset, committed[1].Offset})
	assert.Equal(t, int64(2), tp.AbortedTransactions()[0][0].Offset, "aborted records use up offsets, as on a broker")
}

func TestTransactionalFencing(t *testing.T) {
	tp := producertest.NewTransactional()
	ctx := context.Background()
	err := tp.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		tp.Fence()
		_, err := tx.Send(ctx, &bulwark.Message{Topic: "out", Value: []byte("zombie")})
		return err
	})
	assert.ErrorIs(t, err, producer.ErrFenced)
	err = tp.InTransaction(ctx, func(context.Context, *producer.Txn) error { return nil })
	assert.ErrorIs(t, err, producer.ErrFenced)
	assert.Empty(t, tp.Committed())
	require.NoError(t, tp.Close())
}

func TestTxnCannotOutliveItsTransaction(t *testing.T) {
	tp := producertest.NewTransactional()
	var kept *producer.Txn
	require.NoError(t, tp.InTransaction(context.Background(), func(_ context.Context, tx *producer.Txn) error { kept = tx; return nil }))
	_, err := kept.Send(context.Background(), &bulwark.Message{Topic: "out"})
	assert.ErrorIs(t, err, producer.ErrTxnFinished)
}
