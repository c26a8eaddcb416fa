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
	// ErrOutcomeUnknown reports a record that was sent but not
	// acknowledged within the delivery timeout: it may or may not have
	// been written, and the engine never sends it again. Such a record's
	// error also matches ErrDeliveryTimeout. Its partition goes on under a
	// new producer epoch (KIP-360), where no later record can be taken for
	// a duplicate of it.
	ErrOutcomeUnknown = errors.New("produce: record sent but not acknowledged: it may or may not have been written")
)

// unknownOutcomeError is ErrOutcomeUnknown (and ErrDeliveryTimeout) for a
// record of one partition.
type unknownOutcomeError struct {
	topic     string
	partition int32
}

func (e *unknownOutcomeError) Error() string {
	return fmt.Sprintf("%v (%s/%d): %v", ErrDeliveryTimeout, e.topic, e.partition, ErrOutcomeUnknown)
}

func (e *unknownOutcomeError) Is(target error) bool {
	return target == ErrOutcomeUnknown || target == ErrDeliveryTimeout
}
