package saramax_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/stretchr/testify/assert"
)

func TestClassifyTxnError(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("commit: %w", err) }
	cases := []struct {
		name string
		err  error
		want saramax.TxnFailure
	}{
		{"producer fenced", sarama.ErrProducerFenced, saramax.TxnFenced},
		{"invalid producer epoch", wrap(sarama.ErrInvalidProducerEpoch), saramax.TxnFenced},
		{"fenced instance ID", wrap(sarama.ErrFencedInstancedId), saramax.TxnFenced},
		// Not authorised for the ID is not another producer taking it: no
		// successor will take over, an operator must fix the ACLs.
		{"transactional ID not authorised", wrap(sarama.ErrTransactionalIDAuthorizationFailed), saramax.TxnFatal},
		{"transactional ID not authorised, unwrapped", sarama.ErrTransactionalIDAuthorizationFailed, saramax.TxnFatal},
		{"cluster not authorised", wrap(sarama.ErrClusterAuthorizationFailed), saramax.TxnFatal},
		{"invalid transaction timeout", sarama.ErrInvalidTransactionTimeout, saramax.TxnFatal},
		{"producer ID mapping gone", wrap(sarama.ErrInvalidProducerIDMapping), saramax.TxnFatal},
		{"unsupported version", sarama.ErrUnsupportedVersion, saramax.TxnFatal},
		{"invalid txn state", wrap(sarama.ErrInvalidTxnState), saramax.TxnAbortable},
		{"topic not authorised", wrap(sarama.ErrTopicAuthorizationFailed), saramax.TxnAbortable},
		{"concurrent transactions", sarama.ErrConcurrentTransactions, saramax.TxnAbortable},
		{"unknown error", errors.New("boom"), saramax.TxnAbortable},
		{"fenced and not authorised", errors.Join(sarama.ErrTransactionalIDAuthorizationFailed, sarama.ErrProducerFenced), saramax.TxnFenced},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, saramax.ClassifyTxnError(tc.err))
		})
	}
}
