package producer

import (
	"errors"
	"fmt"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/produce"
)

// Sentinels for errors.Is.
var (
	// ErrInvalidConfig is wrapped by every error New and NewTransactional
	// return for a bad option. Bad connection settings also match
	// conn.ErrInvalidSettings.
	ErrInvalidConfig = errors.New("producer: invalid configuration")
	// ErrInvalidRecord: the record cannot be sent as given (nil, or no topic).
	ErrInvalidRecord = errors.New("producer: invalid record")
	// ErrDeliveryTimeout: the record had no outcome within the delivery
	// timeout (Send's error, SendAsync's callback, a transaction's commit).
	// The record may still be written; its outcome is unknown.
	ErrDeliveryTimeout = errors.New("producer: delivery timeout")
	// ErrUnknownTopic: the record's topic does not exist, and the cluster
	// does not create topics on demand. The error is pause-class: the
	// record is fine, the topic is missing, so a consumer handler that
	// returns it pauses its partition (visibly) until the topic exists,
	// instead of dead-lettering its records.
	ErrUnknownTopic = errors.New("producer: topic does not exist")
	// ErrTxnFinished: a Txn was used after its InTransaction call returned.
	ErrTxnFinished = errors.New("producer: transaction already finished")

	// ErrFenced: another producer with the same transactional ID took over.
	// This producer is unusable from then on; close it. It is
	// [bulwark.ErrFenced], the one fencing sentinel (pause-class).
	ErrFenced = bulwark.ErrFenced
	// ErrAbortable: the transaction failed and was aborted; the producer
	// stays usable and the next transaction may succeed.
	ErrAbortable = errors.New("producer: transaction aborted")
	// ErrFatal: the producer hit an error it cannot recover from (other than
	// fencing) and is unusable; close it.
	ErrFatal = errors.New("producer: fatal transactional error")
)

// TxnKind says what a failed transaction left behind. It is the public
// face of the one classification of transactional failures, the engine's
// (internal/produce.TxnClass): each kind is the engine's class of the same
// name, and kindOf is the only mapping.
type TxnKind int

const (
	// TxnAbortable: the transaction was aborted; the producer is usable.
	TxnAbortable = TxnKind(produce.Abortable)
	// TxnFenced: another producer took the transactional ID; this one is
	// unusable.
	TxnFenced = TxnKind(produce.Fenced)
	// TxnFatal: the producer is unusable for another reason.
	TxnFatal = TxnKind(produce.Fatal)
)

// String returns "abortable", "fenced" or "fatal".
func (k TxnKind) String() string {
	switch k {
	case TxnAbortable, TxnFenced, TxnFatal:
		return produce.TxnClass(k).String()
	}
	return fmt.Sprintf("TxnKind(%d)", int(k))
}

// kindOf says what err, returned by the engine, means for the producer.
// The engine's GroupFenced cannot come: this producer sends no consumer
// offsets.
func kindOf(err error) TxnKind { return TxnKind(produce.Classify(err)) }

// TxnError is returned by transactional operations that failed. It matches
// [ErrAbortable], [ErrFenced] or [ErrFatal] with errors.Is according to
// Kind, and unwraps to the cause.
type TxnError struct {
	Kind TxnKind
	Err  error
}

func (e *TxnError) Error() string {
	switch e.Kind {
	case TxnFenced:
		return fmt.Sprintf("producer: fenced: another producer took the transactional ID; this producer is unusable, close it and create a new one: %v", e.Err)
	case TxnFatal:
		return fmt.Sprintf("producer: fatal transactional error; this producer is unusable, close it: %v", e.Err)
	default:
		return fmt.Sprintf("producer: transaction aborted: %v", e.Err)
	}
}

// Unwrap returns the cause.
func (e *TxnError) Unwrap() error { return e.Err }

// Is matches the sentinel of e's kind.
func (e *TxnError) Is(target error) bool {
	switch target {
	case ErrFenced:
		return e.Kind == TxnFenced
	case ErrAbortable:
		return e.Kind == TxnAbortable
	case ErrFatal:
		return e.Kind == TxnFatal
	}
	return false
}

func invalidConfig(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}
