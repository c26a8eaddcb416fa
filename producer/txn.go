package producer

import (
	"context"
	"sync/atomic"

	"github.com/bulwarkgo/bulwark"
)

// TxnSender delivers the records of a [Txn]. The transactional producer
// supplies its own; test doubles (see package producertest) supply theirs
// through [NewTxn].
type TxnSender interface {
	Send(ctx context.Context, msg *bulwark.Message) (Result, error)
	SendAsync(ctx context.Context, msg *bulwark.Message, done func(Result, error))
}

// Txn sends records inside one transaction. It is valid only during the
// InTransaction call that created it, and safe for concurrent use then.
type Txn struct {
	sender   TxnSender
	finished atomic.Bool
}

// NewTxn returns a transaction handle that sends through s. It exists for
// test doubles of [TransactionalProducer]; records sent through it are
// transactional only if s makes them so.
func NewTxn(s TxnSender) *Txn { return &Txn{sender: s} }

// Finish marks tx finished: later sends fail with [ErrTxnFinished]. The
// transactional producer calls it when InTransaction returns; test doubles
// should too.
func (tx *Txn) Finish() { tx.finished.Store(true) }

// Send sends msg as part of the transaction and waits for its
// acknowledgement, as [Producer.Send] does. Readers with read_committed
// isolation see it only once the transaction commits.
func (tx *Txn) Send(ctx context.Context, msg *bulwark.Message) (Result, error) {
	if tx.finished.Load() {
		return Result{}, ErrTxnFinished
	}
	return tx.sender.Send(ctx, msg)
}

// SendAsync sends msg as part of the transaction without waiting, as
// [Producer.SendAsync] does. The transaction commits only after every such
// record is acknowledged; if one fails, the commit fails and the
// transaction is aborted.
func (tx *Txn) SendAsync(ctx context.Context, msg *bulwark.Message, done func(Result, error)) {
	if tx.finished.Load() {
		if done != nil {
			done(Result{Partition: -1, Offset: -1}, ErrTxnFinished)
		}
		return
	}
	tx.sender.SendAsync(ctx, msg, done)
}
