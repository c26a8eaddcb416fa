package producer

import (
	"context"

	"github.com/bulwarkgo/bulwark"
)

// Sender is what code that writes records needs from a producer: take one
// instead of a *[Producer], and the same code sends through a producer, a
// transaction's *[Txn], or producertest's fake in unit tests. It holds
// only Send, so anything with that method can stand in; code that needs
// SendAsync or Flush takes the producer itself.
type Sender interface {
	// Send writes msg and returns once the cluster has acknowledged it, or
	// with the error that ended trying (see [Producer.Send]).
	Send(ctx context.Context, msg *bulwark.Message) (Result, error)
}

// TransactionalSender is what code that writes records atomically needs
// from a transactional producer: a *[TransactionalProducer] and
// producertest's fake satisfy it. The *[Txn] handed to fn is a [Sender].
type TransactionalSender interface {
	// InTransaction runs fn in a transaction that commits when fn returns
	// nil and aborts otherwise (see [TransactionalProducer.InTransaction]).
	InTransaction(ctx context.Context, fn func(ctx context.Context, tx *Txn) error) error
}

var (
	_ Sender              = (*Producer)(nil)
	_ Sender              = (*Txn)(nil)
	_ TransactionalSender = (*TransactionalProducer)(nil)
)
