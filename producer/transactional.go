package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/joinerr"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"go.opentelemetry.io/otel/metric"
)

// TransactionalProducer writes records in transactions: readers with
// read_committed isolation see all records of a committed transaction and
// none of an aborted one. One transaction runs at a time; it is safe for
// concurrent use otherwise.
//
// Starting a second producer with the same transactional ID fences this one
// (the usual way a restarted instance takes over from a zombie): its
// operations then fail with an error matching [ErrFenced], and it refuses
// further work with that error until closed.
type TransactionalProducer struct {
	pipe *pipeline
	e    *produce.Connected // the pipeline's engine, which runs the transactions
	// bound is each commit's and abort's (the transaction timeout: the
	// coordinator aborts an open transaction by then anyway).
	bound time.Duration
	id    string
	turn  chan struct{} // holds a token while a transaction (or Close) runs

	mu     sync.Mutex
	broken *TxnError // set once fenced or fatal

	closeOnce sync.Once
	closeErr  error
}

// NewTransactional connects like [New] and registers transactionalID with
// the cluster, which fences any older producer using the same ID and aborts
// its open transaction.
func NewTransactional(brokers []string, transactionalID string, opts ...Option) (*TransactionalProducer, error) {
	return NewTransactionalContext(context.Background(), brokers, transactionalID, opts...)
}

// NewTransactionalContext is [NewTransactional], also giving up when ctx
// ends, as [NewContext] does.
func NewTransactionalContext(ctx context.Context, brokers []string, transactionalID string, opts ...Option) (*TransactionalProducer, error) {
	if transactionalID == "" {
		return nil, invalidConfig("transactional ID is empty")
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	pipe, err := newPipeline(ctx, brokers, cfg, transactionalID)
	if err != nil {
		return nil, err
	}
	return &TransactionalProducer{pipe: pipe, e: pipe.be.e, bound: pipe.be.txnTimeout, id: transactionalID, turn: make(chan struct{}, 1)}, nil
}

// InTransaction runs fn inside a new transaction. When fn returns nil the
// transaction commits (after every record sent through tx is acknowledged);
// when it returns an error or panics, the transaction is aborted and fn's
// error is returned (or its panic re-raised).
//
// Errors of the transaction itself are *[TxnError]: [ErrAbortable] when
// committing failed and the transaction was aborted (the producer stays
// usable, so the caller may run fn again), [ErrFenced] or [ErrFatal] when
// the producer is unusable. When aborting after fn's error fails, the
// TxnError wraps both errors.
//
// ctx bounds waiting for a running transaction and is passed to fn; commit
// and abort themselves are bounded by the client's transaction retries and
// the transaction timeout, not by ctx. Waiting for the transaction's records before either is bounded
// by the delivery timeout; when one timed out, the transaction is aborted
// (an error matching [ErrAbortable] and [ErrDeliveryTimeout]), since the
// client could not tell whether it was written. That abort still waits for
// the client to finish with the record.
func (t *TransactionalProducer) InTransaction(ctx context.Context, fn func(ctx context.Context, tx *Txn) error) error {
	if fn == nil {
		return errors.New("producer: InTransaction needs a function")
	}
	select {
	case t.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.pipe.stop:
		return bulwark.ErrClosed
	}
	defer func() { <-t.turn }()
	if err := t.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.begin(); err != nil {
		return err
	}
	start := time.Now()
	expiredBefore := t.pipe.expired.Load()
	tx := NewTxn(txnSender{t})
	defer tx.Finish()

	returned := false
	defer func() {
		if returned {
			return
		}
		// fn panicked (or called runtime.Goexit): abort, then let the panic
		// go on.
		v := recover()
		cause := fmt.Errorf("producer: transaction function panicked: %v", v)
		if err := t.abortAfter(cause, start); err != cause {
			t.pipe.logger.ErrorContext(ctx, "producer: abort after panic failed", slog.String("transactional_id", t.id), slog.Any("error", err))
		}
		if v != nil {
			panic(v)
		}
	}()
	fnErr := fn(ctx, tx)
	returned = true
	if fnErr != nil {
		return t.abortAfter(fnErr, start)
	}
	return t.commit(start, expiredBefore)
}

func (t *TransactionalProducer) usable() error {
	select {
	case <-t.pipe.stop:
		return bulwark.ErrClosed
	default:
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken != nil {
		return &TxnError{Kind: t.broken.Kind, Err: fmt.Errorf("producer unusable since an earlier failure: %w", t.broken.Err)}
	}
	return nil
}

func (t *TransactionalProducer) begin() error {
	err := t.e.Begin()
	if err == nil {
		return nil
	}
	if kind := kindOf(err); kind != TxnAbortable {
		return t.breakWith(kind, err)
	}
	// An earlier abort may have failed and left the transaction unresolved
	// (its error was returned then): resolve it once before giving up.
	if abortErr := t.abort(); abortErr != nil {
		if kind := kindOf(abortErr); kind != TxnAbortable {
			return t.breakWith(kind, joinerr.Join(err, abortErr))
		}
		return &TxnError{Kind: TxnAbortable, Err: fmt.Errorf("begin: %w", joinerr.Join(err, abortErr))}
	}
	if err := t.e.Begin(); err != nil {
		if kind := kindOf(err); kind != TxnAbortable {
			return t.breakWith(kind, err)
		}
		return &TxnError{Kind: TxnAbortable, Err: fmt.Errorf("begin: %w", err)}
	}
	return nil
}

// settle waits until every record of the transaction has its outcome and
// its callback has run, so that InTransaction returns after them. Records
// settle by the delivery timeout (a little after, see expiry); the bound
// here is only a backstop.
func (t *TransactionalProducer) settle() {
	ctx, cancel := context.WithTimeout(context.Background(), t.pipe.cfg.deliveryTimeout+4*t.pipe.expiry.tick)
	defer cancel()
	if err := t.pipe.flush(ctx); err != nil {
		t.pipe.logger.WarnContext(ctx, "producer: records of the transaction still unsettled", slog.String("transactional_id", t.id), slog.Any("error", err))
	}
}

func (t *TransactionalProducer) commit(start time.Time, expiredBefore int64) error {
	t.settle()
	// A record that timed out was reported failed, but the client does not
	// know: it would commit the record if it is written after all.
	if n := t.pipe.expired.Load() - expiredBefore; n > 0 {
		return t.abortAfter(&TxnError{Kind: TxnAbortable, Err: fmt.Errorf("commit: %d records: %w", n, ErrDeliveryTimeout)}, start)
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.bound)
	err := t.e.Commit(ctx)
	cancel()
	if err == nil {
		t.recordEnd(t.pipe.tel.txnCommits, start)
		return nil
	}
	cause := fmt.Errorf("commit: %w", err)
	if kind := kindOf(err); kind != TxnAbortable {
		t.recordEnd(t.pipe.tel.txnAborts, start)
		return t.breakWith(kind, cause)
	}
	if abortErr := t.abort(); abortErr != nil {
		t.recordEnd(t.pipe.tel.txnAborts, start)
		if kind := kindOf(abortErr); kind != TxnAbortable {
			return t.breakWith(kind, joinerr.Join(cause, abortErr))
		}
		return &TxnError{Kind: TxnAbortable, Err: joinerr.Join(cause, fmt.Errorf("abort: %w", abortErr))}
	}
	t.recordEnd(t.pipe.tel.txnAborts, start)
	return &TxnError{Kind: TxnAbortable, Err: cause}
}

// abortAfter aborts the transaction because of cause. It returns cause
// itself when the abort worked.
func (t *TransactionalProducer) abortAfter(cause error, start time.Time) error {
	defer t.recordEnd(t.pipe.tel.txnAborts, start)
	t.settle()
	// Fenced or fatal: the broker would refuse the abort; the transaction
	// is dropped by the broker (or by the producer that fenced us).
	if kind := kindOf(cause); kind != TxnAbortable {
		return t.breakWith(kind, cause)
	}
	abortErr := t.abort()
	if abortErr == nil {
		return cause
	}
	if kind := kindOf(abortErr); kind != TxnAbortable {
		return t.breakWith(kind, joinerr.Join(cause, abortErr))
	}
	return &TxnError{Kind: TxnAbortable, Err: joinerr.Join(cause, fmt.Errorf("abort: %w", abortErr))}
}

// abort aborts the engine's open transaction once its records in flight
// have settled (written, then aborted), bounded like commit.
func (t *TransactionalProducer) abort() error {
	ctx, cancel := context.WithTimeout(context.Background(), t.bound)
	defer cancel()
	return t.e.Abort(ctx)
}

// breakWith makes the producer unusable: every later call fails with a
// TxnError of the same kind.
func (t *TransactionalProducer) breakWith(kind TxnKind, err error) *TxnError {
	te := &TxnError{Kind: kind, Err: err}
	t.mu.Lock()
	first := t.broken == nil
	if first {
		t.broken = te
	}
	t.mu.Unlock()
	if first {
		t.pipe.logger.Warn("producer: transactional producer unusable", slog.String("transactional_id", t.id),
			slog.String("kind", kind.String()), slog.Any("error", err))
	}
	return te
}

func (t *TransactionalProducer) recordEnd(counter metric.Int64Counter, start time.Time) {
	ctx := context.Background()
	counter.Add(ctx, 1)
	t.pipe.tel.txnDuration.Record(ctx, time.Since(start).Seconds())
}

// Close waits (up to the close timeout) for a running transaction to end,
// then closes like [Producer.Close]. A transaction still running then is
// left to the broker, which aborts it after the transaction timeout, and
// Close returns an error; the producer finishes closing in the background
// once that transaction's call returns. Close is idempotent.
func (t *TransactionalProducer) Close() error {
	t.closeOnce.Do(func() {
		t.pipe.beginClose()
		timer := time.NewTimer(t.pipe.cfg.closeTimeout)
		defer timer.Stop()
		// The token is kept: no transaction may start on a closed producer,
		// and the engine must not be closed under a running commit or abort.
		select {
		case t.turn <- struct{}{}:
			t.closeErr = t.pipe.close()
		case <-timer.C:
			go func() {
				t.turn <- struct{}{}
				_ = t.pipe.close()
			}()
			t.closeErr = fmt.Errorf("producer: close: a transaction was still running after %v", t.pipe.cfg.closeTimeout)
		}
	})
	return t.closeErr
}

type txnSender struct{ t *TransactionalProducer }

func (s txnSender) Send(ctx context.Context, msg *bulwark.Message) (Result, error) {
	res, err := s.t.pipe.sendSync(ctx, msg)
	if err != nil {
		err = s.t.wrapRecordError(err)
	}
	return res, err
}

func (s txnSender) SendAsync(ctx context.Context, msg *bulwark.Message, done func(Result, error)) {
	s.t.pipe.sendAsync(ctx, msg, func(res Result, err error) {
		if err != nil {
			err = s.t.wrapRecordError(err)
		}
		if done != nil {
			done(res, err)
		}
	})
}

// wrapRecordError marks a record error that means the producer was fenced
// or is broken, so callers inside the transaction can tell.
func (t *TransactionalProducer) wrapRecordError(err error) error {
	if kind := kindOf(err); kind != TxnAbortable {
		return t.breakWith(kind, err)
	}
	return err
}
