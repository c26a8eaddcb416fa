package producertest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/producer"
)

// TransactionalProducer is a recording fake of
// *producer.TransactionalProducer. Each InTransaction call is recorded as
// one committed or aborted transaction with its records. Like a broker,
// aborted records use up offsets. It is safe for concurrent use; one
// transaction runs at a time.
type TransactionalProducer struct {
	turn sync.Mutex // held for a whole transaction

	mu          sync.Mutex
	log         log
	committed   [][]*bulwark.Message
	aborted     [][]*bulwark.Message
	sendFail    failures
	commitFails []error
	broken      *producer.TxnError
	closed      bool
}

// NewTransactional returns an empty fake transactional producer.
func NewTransactional() *TransactionalProducer { return &TransactionalProducer{} }

var _ producer.TransactionalSender = (*TransactionalProducer)(nil)

// InTransaction runs fn like the real producer: commit when it returns nil,
// abort when it returns an error (returned as is) or panics (re-raised).
// When a send inside the transaction failed, or a commit failure was set
// with FailNextCommit, the commit fails: the transaction is aborted and a
// *producer.TxnError matching producer.ErrAbortable is returned. After Fence
// every call fails with one matching producer.ErrFenced.
func (t *TransactionalProducer) InTransaction(ctx context.Context, fn func(ctx context.Context, tx *producer.Txn) error) error {
	if fn == nil {
		return errors.New("producertest: InTransaction needs a function")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t.turn.Lock()
	defer t.turn.Unlock()
	if err := t.usable(); err != nil {
		return err
	}
	s := &txnSender{t: t}
	tx := producer.NewTxn(s)
	defer tx.Finish()
	returned := false
	defer func() {
		if !returned {
			t.end(s, false)
		}
	}()
	err := fn(ctx, tx)
	returned = true
	if err != nil {
		t.end(s, false)
		return err
	}
	if err := t.usable(); err != nil { // fenced during fn
		t.end(s, false)
		return err
	}
	if err := s.firstFailure(); err != nil {
		t.end(s, false)
		return &producer.TxnError{Kind: producer.TxnAbortable, Err: fmt.Errorf("commit: a record failed: %w", err)}
	}
	if err := t.nextCommitFailure(); err != nil {
		t.end(s, false)
		return &producer.TxnError{Kind: producer.TxnAbortable, Err: fmt.Errorf("commit: %w", err)}
	}
	t.end(s, true)
	return nil
}

func (t *TransactionalProducer) usable() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return bulwark.ErrClosed
	}
	if t.broken != nil {
		return t.broken
	}
	return nil
}

func (t *TransactionalProducer) nextCommitFailure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.commitFails) == 0 {
		return nil
	}
	err := t.commitFails[0]
	t.commitFails = t.commitFails[1:]
	return err
}

func (t *TransactionalProducer) end(s *txnSender, commit bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recs := s.take()
	if commit {
		t.committed = append(t.committed, recs)
	} else {
		t.aborted = append(t.aborted, recs)
	}
}

// Close makes later transactions fail with bulwark.ErrClosed. It waits for
// a running transaction and is idempotent.
func (t *TransactionalProducer) Close() error {
	t.turn.Lock()
	defer t.turn.Unlock()
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return nil
}

// Committed returns copies of the records of every committed transaction,
// in commit order.
func (t *TransactionalProducer) Committed() []*bulwark.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*bulwark.Message
	for _, txn := range t.committed {
		out = append(out, cloneAll(txn)...)
	}
	return out
}

// CommittedTransactions returns the records of each committed transaction.
func (t *TransactionalProducer) CommittedTransactions() [][]*bulwark.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([][]*bulwark.Message, len(t.committed))
	for i, txn := range t.committed {
		out[i] = cloneAll(txn)
	}
	return out
}

// AbortedTransactions returns the records of each aborted transaction.
func (t *TransactionalProducer) AbortedTransactions() [][]*bulwark.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([][]*bulwark.Message, len(t.aborted))
	for i, txn := range t.aborted {
		out[i] = cloneAll(txn)
	}
	return out
}

// FailNextSend makes the next n sends inside transactions fail with err.
func (t *TransactionalProducer) FailNextSend(n int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for range n {
		t.sendFail.queue = append(t.sendFail.queue, err)
	}
}

// FailNextCommit makes the next commit fail with err: that transaction is
// aborted and InTransaction returns an error matching producer.ErrAbortable.
func (t *TransactionalProducer) FailNextCommit(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.commitFails = append(t.commitFails, err)
}

// Fence acts as if another producer took the transactional ID: sends in a
// running transaction fail, it is aborted, and every later call fails with
// an error matching producer.ErrFenced.
func (t *TransactionalProducer) Fence() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken == nil {
		t.broken = &producer.TxnError{Kind: producer.TxnFenced, Err: errors.New("producertest: fenced by another producer with the same transactional ID")}
	}
}

type txnSender struct {
	t       *TransactionalProducer
	mu      sync.Mutex
	pending []*bulwark.Message
	failed  error // first failed send: the commit fails, as with a real producer
}

func (s *txnSender) Send(ctx context.Context, msg *bulwark.Message) (producer.Result, error) {
	if err := ctx.Err(); err != nil {
		return producer.Result{}, err
	}
	if msg == nil || msg.Topic == "" {
		return producer.Result{}, bulwark.Permanent(producer.ErrInvalidRecord)
	}
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken != nil {
		return producer.Result{}, t.broken
	}
	if err := t.sendFail.next(msg); err != nil {
		s.mu.Lock()
		if s.failed == nil {
			s.failed = err
		}
		s.mu.Unlock()
		return producer.Result{Topic: msg.Topic, Partition: -1, Offset: -1}, err
	}
	rec, res := t.log.append(msg)
	s.mu.Lock()
	s.pending = append(s.pending, rec)
	s.mu.Unlock()
	return res, nil
}

func (s *txnSender) SendAsync(ctx context.Context, msg *bulwark.Message, done func(producer.Result, error)) {
	res, err := s.Send(ctx, msg)
	if done != nil {
		done(res, err)
	}
}

func (s *txnSender) firstFailure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *txnSender) take() []*bulwark.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.pending
	s.pending = nil
	return recs
}
