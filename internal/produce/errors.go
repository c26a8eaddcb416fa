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
	// ErrSequenceLost reports a partition whose idempotent sequence state
	// is no longer known to match the broker's (a batch of unknown outcome
	// expired, or the broker answered OUT_OF_ORDER_SEQUENCE_NUMBER or
	// UNKNOWN_PRODUCER_ID). Until the KIP-360 epoch bump exists, records
	// to that partition fail with it rather than risk a duplicate or a gap.
	ErrSequenceLost = errors.New("produce: idempotent sequence state lost for the partition")
)

// sequenceError is ErrSequenceLost for one partition, with what caused it.
type sequenceError struct {
	topic     string
	partition int32
	cause     error
}

func (e *sequenceError) Error() string {
	return fmt.Sprintf("%v (%s/%d: %v)", ErrSequenceLost, e.topic, e.partition, e.cause)
}

func (e *sequenceError) Is(target error) bool { return target == ErrSequenceLost }
func (e *sequenceError) Unwrap() error        { return e.cause }
