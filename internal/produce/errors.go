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
	// ErrOutcomeUnknown reports a record that may or may not have been
	// written: it was sent, and then either not acknowledged within the
	// delivery timeout (its error also matches ErrDeliveryTimeout) or, on
	// a retry after an answer that was lost or inconclusive, rejected (its
	// error also matches the broker's). The engine never sends it again,
	// and its partition goes on under a new producer epoch (KIP-360),
	// where no later record can be taken for a duplicate of it.
	ErrOutcomeUnknown = errors.New("produce: record sent but not acknowledged: it may or may not have been written")
)

// unknownOutcomeError is ErrOutcomeUnknown for a record of one partition,
// with what ended its delivery.
type unknownOutcomeError struct {
	topic     string
	partition int32
	cause     error
}

func (e *unknownOutcomeError) Error() string {
	return fmt.Sprintf("%v (%s/%d): %v", e.cause, e.topic, e.partition, ErrOutcomeUnknown)
}

func (e *unknownOutcomeError) Is(target error) bool { return target == ErrOutcomeUnknown }
func (e *unknownOutcomeError) Unwrap() error        { return e.cause }
