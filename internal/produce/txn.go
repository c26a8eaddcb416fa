package produce

// Goroutines: a transactional engine has one goroutine more, the adder
// (runAdder), which New starts and Close stops (e.stop) and waits for like
// the others. It alone sends AddPartitionsToTxn. Begin, Commit, Abort and
// AddOffsets run on the caller's goroutine, one at a time (they must not be
// called concurrently with each other). The engine lock guards every txn
// field below the coordinator and the partitions' txnHold and txn fields.
//
// A partition of a transactional engine is held (txnHold: its sender skips
// it) until AddPartitionsToTxn has put it in the open transaction: the
// first record of the transaction to a partition queues it for the adder,
// which sends every queued partition in one request to the transaction
// coordinator as soon as it is free, so no produce request of a partition
// leaves before its partition is in the transaction. Commit and Abort hold
// the partitions again for the next transaction.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// GroupMeta is the consumer-group metadata a transaction's offsets are
// committed with (KIP-447): the coordinator refuses them from a member
// that is no longer in the group's current generation.
type GroupMeta struct {
	Group      string
	Generation int32
	MemberID   string
	InstanceID string // static membership; "" for none
}

// WithTransactionalID makes the engine transactional: New finds the
// transaction coordinator of id and initialises the producer ID with it,
// which fences any older producer with the same id and aborts its open
// transaction. Records then need an open transaction (Begin). timeout is
// how long the coordinator lets a transaction stay open before aborting it.
func WithTransactionalID(id string, timeout time.Duration) Option {
	return func(o *options) error {
		if id == "" {
			return fmt.Errorf("produce: empty transactional ID")
		}
		if timeout <= 0 {
			return fmt.Errorf("produce: transaction timeout %v, want > 0", timeout)
		}
		o.txnID, o.txnTimeout = id, timeout
		return nil
	}
}

// WithTxnRetries bounds how often a transactional request to a
// coordinator (InitProducerID, AddOffsetsToTxn, TxnOffsetCommit, EndTxn) is
// retried after a retriable failure (default 0: until the call's context
// ends). An EndTxn(commit) that runs out of retries after one may have
// reached the coordinator fails with ErrOutcomeUnknown.
func WithTxnRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("produce: negative transactional retries %d", n)
		}
		o.txnRetries = n
		return nil
	}
}

type txnPart uint8

const (
	txnNone   txnPart = iota
	txnAdding         // queued for or in an AddPartitionsToTxn
	txnAdded
)

type txnState uint8

const (
	txnReady txnState = iota // no transaction open
	txnOpen
	txnCommitting
	txnAborting
	txnDead // fenced or fatal: no more transactions
)

type txn struct {
	e    *Engine
	c    *coordinator
	wake chan struct{}

	state     txnState
	err       *TxnError     // why the open transaction cannot commit
	dead      *TxnError     // why there are no more transactions
	parts     []*partition  // in the open transaction, adding or added
	pending   []*partition  // waiting for the adder
	adding    bool          // the adder has a request out or backs off
	idle      chan struct{} // closed when the adder goes idle; made by waitAdder
	touched   bool          // a request of this transaction went to the coordinator: EndTxn is due
	confirmed bool          // the coordinator took a partition or group into it
	unknown   bool          // the last Commit's outcome is unknown
}

func newTxn(e *Engine) *txn {
	t := &txn{e: e, c: newCoordinator(e.client, &e.o, e.stop), wake: make(chan struct{}, 1)}
	e.wg.Add(1)
	go t.runAdder()
	return t
}

// Begin opens a transaction; records produced until Commit or Abort
// belong to it.
func (e *Engine) Begin() error {
	t := e.txn
	if t == nil {
		return ErrNotTransactional
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return ErrClosed
	case t.state == txnDead:
		return t.dead
	case t.state != txnReady:
		return ErrTransactionOpen
	}
	t.state = txnOpen
	return nil
}

// TxnErr returns why the open transaction can no longer commit (a record
// failed, an offset commit was refused...), or nil.
func (e *Engine) TxnErr() error {
	t := e.txn
	if t == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.state == txnDead {
		return t.dead
	}
	if t.err == nil {
		return nil
	}
	return t.err
}

// AddOffsets adds the group's consumed offsets (the next offset to read,
// by topic and partition) to the open transaction: AddOffsetsToTxn to the
// transaction coordinator, then TxnOffsetCommit with meta to the group
// coordinator. They become the group's committed offsets when the
// transaction commits. A failure puts the transaction in error (abort it);
// a stale meta fails with class GroupFenced.
func (e *Engine) AddOffsets(ctx context.Context, meta GroupMeta, offsets map[string]map[int32]int64) error {
	t, err := e.enter(txnOpen)
	if err != nil {
		return err
	}
	e.mu.Lock()
	t.touched = true
	pid, epoch := e.pid, e.epoch
	e.mu.Unlock()
	if err := t.c.addOffsets(ctx, pid, epoch, meta.Group); err != nil {
		return t.fail(txnErr("add offsets", err, false))
	}
	e.mu.Lock()
	t.confirmed = true
	e.mu.Unlock()
	if err := t.c.commitOffsets(ctx, pid, epoch, meta, offsets); err != nil {
		return t.fail(txnErr("commit offsets", err, true))
	}
	return nil
}

// Commit flushes the transaction's records and, once every one is
// acknowledged, commits it with EndTxn. When a record failed it sends
// nothing and returns the failure: abort then. An error that Is
// ErrOutcomeUnknown means EndTxn may have reached the coordinator: Abort
// tells whether it had (it fails, as nothing is open any more) or not.
func (e *Engine) Commit(ctx context.Context) error {
	t, err := e.enter(txnCommitting)
	if err != nil {
		return err
	}

	if err := e.Flush(ctx); err != nil {
		return t.failCommit(&TxnError{Op: "commit", Class: Abortable, Err: fmt.Errorf("flushing the records: %w", err)})
	}
	if err := t.waitAdder(ctx); err != nil {
		return t.failCommit(&TxnError{Op: "commit", Class: Abortable, Err: err})
	}
	e.mu.Lock()
	failed, touched, pid, epoch := t.err, t.touched, e.pid, e.epoch
	e.mu.Unlock()
	if failed != nil {
		return t.failCommit(failed)
	}
	if touched {
		maybe, err := t.c.endTxn(ctx, pid, epoch, true)
		if err != nil {
			te := txnErr("commit", err, false)
			if maybe && te.Class == Abortable {
				te = &TxnError{Op: "commit", Class: Abortable, Err: err, Unknown: true}
			}
			return t.failCommit(te)
		}
	}
	t.end()
	return nil
}

// Abort ends the open transaction: records not yet sent fail with
// ErrTxnAborted, those in flight settle, then EndTxn aborts what reached
// the brokers. When a partition's sequence state was lost in the
// transaction, it gets a new epoch from the coordinator, so the next
// transaction starts clean. Abort with no transaction open does nothing.
// After a failed Abort (not fenced or fatal), call it again.
func (e *Engine) Abort(ctx context.Context) error {
	t := e.txn
	if t == nil {
		return ErrNotTransactional
	}
	e.mu.Lock()
	switch t.state {
	case txnDead:
		e.mu.Unlock()
		return t.dead
	case txnReady:
		e.mu.Unlock()
		return nil
	case txnCommitting:
		e.mu.Unlock()
		return ErrNoTransaction
	}
	t.state = txnAborting
	unknown := t.unknown
	var dropped []*batch
	for _, p := range t.parts {
		dropped = dropUnsentLocked(p, ErrTxnAborted, dropped)
	}
	t.pending = t.pending[:0]
	e.mu.Unlock()
	e.results.push(dropped...)

	if err := t.waitAdder(ctx); err != nil {
		return &TxnError{Op: "abort", Class: Abortable, Err: err}
	}
	if err := e.Flush(ctx); err != nil {
		return &TxnError{Op: "abort", Class: Abortable, Err: fmt.Errorf("waiting for the records in flight: %w", err)}
	}
	e.mu.Lock()
	touched, confirmed, pid, epoch := t.touched, t.confirmed, e.pid, e.epoch
	e.mu.Unlock()
	if touched {
		if _, err := t.c.endTxn(ctx, pid, epoch, false); err != nil {
			// INVALID_TXN_STATE: nothing is open at the coordinator.
			// Fine when it never took anything in; after a commit of
			// unknown outcome it means that commit happened.
			invalid := errors.Is(err, sarama.ErrInvalidTxnState)
			if !invalid || confirmed || unknown {
				te := txnErr("abort", err, false)
				if te.Class >= Fenced {
					return t.fail(te)
				}
				if invalid {
					t.end()
				}
				return te
			}
		}
	}
	if err := t.renewEpochIfLost(ctx); err != nil {
		return t.fail(txnErr("abort", err, false))
	}
	t.end()
	return nil
}

// enter checks that a call may join the open transaction and moves it to
// state next.
func (e *Engine) enter(next txnState) (*txn, error) {
	t := e.txn
	if t == nil {
		return nil, ErrNotTransactional
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := t.usableLocked(); err != nil {
		return nil, err
	}
	t.state = next
	return t, nil
}

// usableLocked reports why no call may join the transaction now, if so.
func (t *txn) usableLocked() error {
	switch {
	case t.state == txnDead:
		return t.dead
	case t.state != txnOpen:
		return ErrNoTransaction
	case t.err != nil:
		return t.err
	}
	return nil
}

// admitLocked lets a record into p, queueing p for the adder the first
// time the transaction writes to it.
func (t *txn) admitLocked(p *partition) error {
	if err := t.usableLocked(); err != nil {
		return err
	}
	if p.txn == txnNone {
		p.txn = txnAdding
		t.parts = append(t.parts, p)
		t.pending = append(t.pending, p)
		t.adding = true
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// recordFailedLocked puts the open transaction in error: one of its
// records failed (any produce failure is abortable, unless it says the
// producer was fenced).
func (t *txn) recordFailedLocked(err error) {
	if errors.Is(err, ErrNoTransaction) || errors.Is(err, ErrTxnAborted) {
		return
	}
	if (t.state == txnOpen || t.state == txnCommitting) && t.err == nil {
		t.err = txnErr("produce", err, false)
	}
}

// fail puts the transaction in error, or ends the engine's transactions
// when te is fenced or fatal, and returns te.
func (t *txn) fail(te *TxnError) error {
	t.e.mu.Lock()
	defer t.e.mu.Unlock()
	t.failLocked(te)
	return te
}

func (t *txn) failLocked(te *TxnError) {
	if te.Class >= Fenced && t.state != txnDead {
		t.state, t.dead = txnDead, te
	}
	if t.err == nil {
		t.err = te
	}
}

// failCommit leaves the transaction open and in error (abort it), or dead.
func (t *txn) failCommit(te *TxnError) error {
	t.e.mu.Lock()
	defer t.e.mu.Unlock()
	if t.state == txnCommitting {
		t.state = txnOpen
	}
	t.failLocked(te)
	t.unknown = te.Unknown
	return te
}

// end closes the transaction's books: its partitions are held again until
// the next transaction adds them.
func (t *txn) end() {
	t.e.mu.Lock()
	defer t.e.mu.Unlock()
	for _, p := range t.parts {
		p.txn, p.txnHold = txnNone, true
	}
	clear(t.parts)
	t.parts = t.parts[:0]
	t.pending = t.pending[:0]
	t.err = nil
	t.touched, t.confirmed, t.unknown = false, false, false
	if t.state != txnDead {
		t.state = txnReady
	}
}

// waitAdder waits until the adder has nothing queued or out.
func (t *txn) waitAdder(ctx context.Context) error {
	e := t.e
	e.mu.Lock()
	if !t.adding && len(t.pending) == 0 {
		e.mu.Unlock()
		return nil
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	idle := t.idle
	e.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for AddPartitionsToTxn: %w", context.Cause(ctx))
	case <-e.stop:
		return ErrClosed
	}
}

// dropUnsentLocked fails p's batches when none of them has been sent,
// giving back the sequences of a sealed one. With one sent (in flight or
// to be retried) it drops nothing: the batches after it go out in turn,
// land in the transaction being aborted, and their callbacks keep the
// partition's order.
func dropUnsentLocked(p *partition, err error, out []*batch) []*batch {
	if len(p.queue) == 0 || p.inflight || p.queue[0].sent {
		return out
	}
	if b := p.queue[0]; b.sealed {
		p.nextSeq = addSeq(p.nextSeq, -len(b.recs))
	}
	for len(p.queue) > 0 {
		b := p.pop()
		b.err = err
		out = append(out, b)
	}
	return out
}

// renewEpochIfLost gets a new epoch from the coordinator when a
// partition's sequence state was lost (epoch.go's failPartitionLocked):
// every partition's sequences start again from zero under it (see
// partition.sealNext); the caller has made sure no batch is queued.
func (t *txn) renewEpochIfLost(ctx context.Context) error {
	e := t.e
	e.mu.Lock()
	lost := e.bumpWanted
	e.mu.Unlock()
	if !lost {
		return nil
	}
	resp, err := t.c.initProducerID(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pid, e.epoch = resp.ProducerID, resp.ProducerEpoch
	e.bumpWanted = false
	for _, tp := range e.topics {
		for _, p := range tp.parts {
			p.lost = nil
		}
	}
	return nil
}

// errPartitionMissing: the coordinator's answer left out a partition of
// the request; it is asked again.
var errPartitionMissing = errors.New("produce: partition missing from the AddPartitionsToTxn response")

// runAdder sends AddPartitionsToTxn for the queued partitions, one
// request at a time with all of them, until the engine closes.
func (t *txn) runAdder() {
	e := t.e
	defer e.wg.Done()
	failures := 0
	for {
		select {
		case <-e.stop:
			return
		case <-t.wake:
		}
		for {
			e.mu.Lock()
			parts := t.pending
			t.pending = nil
			if len(parts) == 0 {
				t.adding = false
				if t.idle != nil {
					close(t.idle)
					t.idle = nil
				}
				e.mu.Unlock()
				break
			}
			t.adding = true
			t.touched = true
			req := make(map[string][]int32, 1)
			for _, p := range parts {
				req[p.topic] = append(req[p.topic], p.id)
			}
			pid, epoch := e.pid, e.epoch
			e.mu.Unlock()

			resp, err := t.c.addPartitions(pid, epoch, req)
			retry := t.added(parts, resp, err)
			if !retry {
				failures = 0
				continue
			}
			failures++
			e.log.Debug("produce: AddPartitionsToTxn failed, retrying", "transactional_id", t.c.id, "attempt", failures, "error", err)
			if t.c.pause(context.Background(), failures) != nil {
				return
			}
		}
	}
}

// added handles an AddPartitionsToTxn answer (or its failure, err) for
// parts: an added partition's sender is woken, a retriable failure queues
// the partition again (its records bounded by the delivery timeout), any
// other failure fails its records and the transaction.
func (t *txn) added(parts []*partition, resp *sarama.AddPartitionsToTxnResponse, err error) (retry bool) {
	e := t.e
	now := time.Now()
	var wake []*sender
	var done []*batch
	e.mu.Lock()
	for _, p := range parts {
		if p.txn != txnAdding {
			continue
		}
		perr := err
		if perr == nil {
			perr = partitionErr(resp, p)
		}
		switch {
		case perr == nil:
			p.txn, p.txnHold = txnAdded, false
			t.confirmed = true
			if p.sender != nil {
				wake = append(wake, p.sender)
			}
		case t.state == txnAborting:
			// Abort dropped its records; nothing to retry.
		case retriableTxn(perr):
			done = e.expireLocked(p, now, done)
			if len(p.queue) > 0 {
				t.pending = append(t.pending, p)
				retry = true
			}
		default:
			te := txnErr("add partitions", perr, false)
			t.failLocked(te)
			done = dropUnsentLocked(p, te, done)
		}
	}
	e.mu.Unlock()
	e.results.push(done...)
	for _, s := range wake {
		s.poke()
	}
	return retry
}

func partitionErr(resp *sarama.AddPartitionsToTxnResponse, p *partition) error {
	for _, pe := range resp.Errors[p.topic] {
		if pe.Partition == p.id {
			return kerrOrNil(pe.Err)
		}
	}
	return errPartitionMissing
}
