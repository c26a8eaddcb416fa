package saramax

import (
	"errors"

	"github.com/IBM/sarama"
)

// TxnFailure says what a failed transactional call left behind.
type TxnFailure int

const (
	// TxnAbortable: abort the transaction; the producer stays usable.
	TxnAbortable TxnFailure = iota
	// TxnFenced: another producer took the transactional ID (or the group
	// generation moved on); this producer must be closed.
	TxnFenced
	// TxnFatal: the producer is unusable for another reason.
	TxnFatal
)

// fencedErrors mean another instance owns the transactional ID now. sarama
// 1.61 prints ErrProducerFenced (90) as "Unknown error", so match by value.
var fencedErrors = []error{
	sarama.ErrProducerFenced,
	sarama.ErrInvalidProducerEpoch,
	sarama.ErrFencedInstancedId,
}

// fatalErrors leave the producer unusable without another instance being
// involved (the Java client treats them as fatal too): retrying, or a new
// producer with the same settings, fails the same way until an operator
// changes ACLs or configuration.
var fatalErrors = []error{
	sarama.ErrTransactionalIDAuthorizationFailed,
	sarama.ErrClusterAuthorizationFailed,
	sarama.ErrInvalidTransactionTimeout,
	sarama.ErrInvalidProducerIDMapping,
	sarama.ErrUnsupportedVersion,
	sarama.ErrUnsupportedForMessageFormat,
}

// ClassifyTxnError decides what err means from the error alone (the
// produce engine keeps the transaction state itself).
func ClassifyTxnError(err error) TxnFailure {
	for _, f := range fencedErrors {
		if errors.Is(err, f) {
			return TxnFenced
		}
	}
	for _, f := range fatalErrors {
		if errors.Is(err, f) {
			return TxnFatal
		}
	}
	return TxnAbortable
}

// IsGroupFencing reports whether err means the consumer-group generation
// (KIP-447 metadata) sent with the offsets is stale: this member no longer
// owns the partitions it tried to commit.
func IsGroupFencing(err error) bool {
	return errors.Is(err, sarama.ErrIllegalGeneration) ||
		errors.Is(err, sarama.ErrUnknownMemberId) ||
		errors.Is(err, sarama.ErrFencedInstancedId) ||
		errors.Is(err, sarama.ErrRebalanceInProgress)
}
