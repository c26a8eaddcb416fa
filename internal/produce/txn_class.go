package produce

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// TxnClass says what a failed transactional call left behind. It is the
// one classification of transactional failures: internal/txnsession (and
// so eos) reads it as is, and producer.TxnKind is derived from it.
type TxnClass int

const (
	// Abortable: abort the transaction; the engine stays usable.
	Abortable TxnClass = iota
	// GroupFenced: the group generation sent with the offsets is stale
	// (KIP-447): this member no longer owns the partitions. Abort and
	// rejoin.
	GroupFenced
	// Fenced: another producer took the transactional ID. Close the
	// engine.
	Fenced
	// Fatal: the engine can run no more transactions for another reason
	// (authorization, an unsupported request). Close it.
	Fatal
)

func (c TxnClass) String() string {
	switch c {
	case Abortable:
		return "abortable"
	case GroupFenced:
		return "group-fenced"
	case Fenced:
		return "fenced"
	case Fatal:
		return "fatal"
	}
	return fmt.Sprintf("TxnClass(%d)", int(c))
}

// Classify says what err, returned by a transactional call or given to a
// record's callback, means: a *TxnError's class, else the classification
// of the broker error itself.
func Classify(err error) TxnClass {
	if te, ok := errors.AsType[*TxnError](err); ok {
		return te.Class
	}
	return classOf(err, false)
}

// The broker's answers, by what they mean for the transactional engine.
// They live here, not in internal/saramax, because the engine is the only
// code that runs transactions: eos and producer read its TxnClass.
var (
	// fencedErrors mean another instance owns the transactional ID now.
	// sarama 1.61 prints ErrProducerFenced (90) as "Unknown error", so
	// match by value.
	fencedErrors = []error{
		sarama.ErrProducerFenced,
		sarama.ErrInvalidProducerEpoch,
		sarama.ErrFencedInstancedId,
	}
	// fatalErrors leave the engine unusable without another instance
	// being involved (the Java client treats them as fatal too): retrying,
	// or a new producer with the same settings, fails the same way until
	// an operator changes ACLs or configuration.
	fatalErrors = []error{
		sarama.ErrTransactionalIDAuthorizationFailed,
		sarama.ErrClusterAuthorizationFailed,
		sarama.ErrInvalidTransactionTimeout,
		sarama.ErrInvalidProducerIDMapping,
		sarama.ErrUnsupportedVersion,
		sarama.ErrUnsupportedForMessageFormat,
	}
	// groupFencingErrors, in answer to TxnOffsetCommit, mean the group
	// generation sent with the offsets (KIP-447 metadata) is stale: this
	// member no longer owns the partitions it tried to commit.
	groupFencingErrors = []error{
		sarama.ErrIllegalGeneration,
		sarama.ErrUnknownMemberId,
		sarama.ErrFencedInstancedId,
		sarama.ErrRebalanceInProgress,
	}
)

// classOf classifies a broker error from the error alone (the engine keeps
// the transaction state itself). Group fencing counts only for the group's
// own request (offsetCommit: TxnOffsetCommit), ahead of FENCED_INSTANCE_ID's
// reading as a producer fencing.
func classOf(err error, offsetCommit bool) TxnClass {
	switch {
	case offsetCommit && isAny(err, groupFencingErrors):
		return GroupFenced
	case isAny(err, fencedErrors):
		return Fenced
	case isAny(err, fatalErrors):
		return Fatal
	}
	return Abortable
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
