package produce_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/stretchr/testify/assert"
)

// The broker errors alone (moved here with the rules from internal/saramax,
// cases unchanged).
func TestClassifyTxnError(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("commit: %w", err) }
	cases := []struct {
		name string
		err  error
		want produce.TxnClass
	}{
		{"producer fenced", sarama.ErrProducerFenced, produce.Fenced},
		{"invalid producer epoch", wrap(sarama.ErrInvalidProducerEpoch), produce.Fenced},
		{"fenced instance ID", wrap(sarama.ErrFencedInstancedId), produce.Fenced},
		// Not authorised for the ID is not another producer taking it: no
		// successor will take over, an operator must fix the ACLs.
		{"transactional ID not authorised", wrap(sarama.ErrTransactionalIDAuthorizationFailed), produce.Fatal},
		{"transactional ID not authorised, unwrapped", sarama.ErrTransactionalIDAuthorizationFailed, produce.Fatal},
		{"cluster not authorised", wrap(sarama.ErrClusterAuthorizationFailed), produce.Fatal},
		{"invalid transaction timeout", sarama.ErrInvalidTransactionTimeout, produce.Fatal},
		{"producer ID mapping gone", wrap(sarama.ErrInvalidProducerIDMapping), produce.Fatal},
		{"unsupported version", sarama.ErrUnsupportedVersion, produce.Fatal},
		{"invalid txn state", wrap(sarama.ErrInvalidTxnState), produce.Abortable},
		{"topic not authorised", wrap(sarama.ErrTopicAuthorizationFailed), produce.Abortable},
		{"concurrent transactions", sarama.ErrConcurrentTransactions, produce.Abortable},
		{"unknown error", errors.New("boom"), produce.Abortable},
		{"fenced and not authorised", errors.Join(sarama.ErrTransactionalIDAuthorizationFailed, sarama.ErrProducerFenced), produce.Fenced},
		// Group errors mean group fencing only in answer to TxnOffsetCommit
		// (TxnError's class, see TestTxnOffsetCommitClasses).
		{"illegal generation, alone", sarama.ErrIllegalGeneration, produce.Abortable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, produce.Classify(tc.err))
		})
	}
}

// A *TxnError's class wins over the broker error inside it.
func TestClassifyReadsTxnErrorClass(t *testing.T) {
	err := fmt.Errorf("eos: %w", &produce.TxnError{Op: "commit offsets", Class: produce.GroupFenced, Err: sarama.ErrFencedInstancedId})
	assert.Equal(t, produce.GroupFenced, produce.Classify(err))
	assert.Equal(t, "group-fenced", produce.GroupFenced.String())
	assert.Equal(t, "TxnClass(9)", produce.TxnClass(9).String())
}
