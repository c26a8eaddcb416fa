package produce

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed reports a record produced after Close, or still unsettled
	// when Close's bound ran out: the latter may or may not have been
	// written.
	ErrClosed = errors.New("produce: engine closed")
	// ErrDeliveryTimeout reports a record that could not be acknowledged
	// within the delivery timeout.
	ErrDeliveryTimeout = errors.New("produce: delivery timeout")
	// ErrMaybeWritten reports a record that may or may not have been
	// written: it was sent, and then either not acknowledged within the
	// delivery timeout (its error also matches ErrDeliveryTimeout) or, on
	// a retry after an answer that was lost or inconclusive, rejected (its
	// error also matches the broker's). The engine never sends it again,
	// and its partition goes on under a new producer epoch (KIP-360),
	// where no later record can be taken for a duplicate of it.
	ErrMaybeWritten = errors.New("produce: record sent but not acknowledged: it may or may not have been written")
)

// maybeWrittenError is ErrMaybeWritten for a record of one partition,
// with what ended its delivery.
type maybeWrittenError struct {
	topic     string
	partition int32
	cause     error
}

func (e *maybeWrittenError) Error() string {
	return fmt.Sprintf("%v (%s/%d): %v", e.cause, e.topic, e.partition, ErrMaybeWritten)
}

func (e *maybeWrittenError) Is(target error) bool { return target == ErrMaybeWritten }
func (e *maybeWrittenError) Unwrap() error        { return e.cause }

// sequenceLostError fails the records of a transactional engine's
// partition whose sequence state is lost: the transaction must abort, and
// Abort takes a new epoch (txn.go). It unwraps to what lost the state, so
// the transaction's classification sees the broker's error.
type sequenceLostError struct {
	topic     string
	partition int32
	cause     error
}

func (e *sequenceLostError) Error() string {
	return fmt.Sprintf("produce: %s/%d: idempotent sequence state lost (%v): the transaction must abort", e.topic, e.partition, e.cause)
}

func (e *sequenceLostError) Unwrap() error { return e.cause }
