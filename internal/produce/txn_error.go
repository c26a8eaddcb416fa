package produce

import (
	"errors"
	"fmt"
)

var (
	// ErrNotTransactional reports a transactional call on an engine made
	// without WithTransactionalID.
	ErrNotTransactional = errors.New("produce: engine is not transactional")
	// ErrNoTransaction reports a record or call that needs an open
	// transaction when none is (Begin not called, or Commit or Abort
	// under way).
	ErrNoTransaction = errors.New("produce: no open transaction")
	// ErrTransactionOpen reports Begin while a transaction is open.
	ErrTransactionOpen = errors.New("produce: a transaction is already open")
	// ErrTxnAborted reports a record that Abort failed before it was sent.
	ErrTxnAborted = errors.New("produce: transaction aborted before the record was sent")
	// ErrOutcomeUnknown reports a Commit whose EndTxn may have reached the
	// coordinator although no answer came back: the transaction may have
	// committed. Abort tells: the coordinator accepts it only if the
	// transaction was still open.
	ErrOutcomeUnknown = errors.New("produce: transaction outcome unknown")
)

// TxnError is the error of a failed transactional call (or of a record
// that failed the transaction): what was done, what it means, why.
type TxnError struct {
	Op    string // "init", "add partitions", "add offsets", "commit offsets", "commit", "abort", "produce"
	Class TxnClass
	Err   error
	// Unknown: the commit may have happened (ErrOutcomeUnknown).
	Unknown bool
}

func (e *TxnError) Error() string {
	s := fmt.Sprintf("produce: transaction %s failed (%s): %v", e.Op, e.Class, e.Err)
	if e.Unknown {
		s += "; the commit may have happened"
	}
	return s
}

func (e *TxnError) Unwrap() error { return e.Err }

// Is matches ErrOutcomeUnknown when the commit may have happened; the
// class is read with Classify.
func (e *TxnError) Is(target error) bool { return target == ErrOutcomeUnknown && e.Unknown }

func txnErr(op string, err error, offsetCommit bool) *TxnError {
	if te, ok := errors.AsType[*TxnError](err); ok {
		return te
	}
	return &TxnError{Op: op, Class: classOf(err, offsetCommit), Err: err}
}
