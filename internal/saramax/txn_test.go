package saramax_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/stretchr/testify/assert"
)

// statusProducer is an AsyncProducer whose only working method is
// TxnStatus, all ClassifyTxn reads.
type statusProducer struct {
	sarama.AsyncProducer
	status sarama.ProducerTxnStatusFlag
}

func (p statusProducer) TxnStatus() sarama.ProducerTxnStatusFlag { return p.status }

func TestClassifyTxn(t *testing.T) {
	inError := sarama.ProducerTxnFlagInError | sarama.ProducerTxnFlagAbortableError
	fatal := sarama.ProducerTxnFlagInError | sarama.ProducerTxnFlagFatalError
	wrap := func(err error) error { return fmt.Errorf("commit: %w", err) }
	cases := []struct {
		name   string
		status sarama.ProducerTxnStatusFlag
		err    error
		want   saramax.TxnFailure
	}{
		{"producer fenced", fatal, sarama.ErrProducerFenced, saramax.TxnFenced},
		{"invalid producer epoch", inError, wrap(sarama.ErrInvalidProducerEpoch), saramax.TxnFenced},
		{"fenced instance ID", inError, wrap(sarama.ErrFencedInstancedId), saramax.TxnFenced},
		// Not authorised for the ID is not another producer taking it: no
		// successor will take over, an operator must fix the ACLs.
		{"transactional ID not authorised", inError, wrap(sarama.ErrTransactionalIDAuthorizationFailed), saramax.TxnFatal},
		{"transactional ID not authorised, status ready", sarama.ProducerTxnFlagReady, sarama.ErrTransactionalIDAuthorizationFailed, saramax.TxnFatal},
		{"cluster not authorised", inError, wrap(sarama.ErrClusterAuthorizationFailed), saramax.TxnFatal},
		{"invalid transaction timeout", sarama.ProducerTxnFlagReady, sarama.ErrInvalidTransactionTimeout, saramax.TxnFatal},
		{"fatal status, any error", fatal, errors.New("transaction manager: transaction is not ready"), saramax.TxnFatal},
		{"producer ID mapping gone", sarama.ProducerTxnFlagReady, wrap(sarama.ErrInvalidProducerIDMapping), saramax.TxnFatal},
		{"unsupported version", sarama.ProducerTxnFlagReady, sarama.ErrUnsupportedVersion, saramax.TxnFatal},
		{"invalid txn state", inError, wrap(sarama.ErrInvalidTxnState), saramax.TxnAbortable},
		{"topic not authorised", inError, wrap(sarama.ErrTopicAuthorizationFailed), saramax.TxnAbortable},
		{"concurrent transactions", inError, sarama.ErrConcurrentTransactions, saramax.TxnAbortable},
		{"unknown error", sarama.ProducerTxnFlagReady, errors.New("boom"), saramax.TxnAbortable},
		{"fenced and not authorised", inError, errors.Join(sarama.ErrTransactionalIDAuthorizationFailed, sarama.ErrProducerFenced), saramax.TxnFenced},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, saramax.ClassifyTxn(statusProducer{status: tc.status}, tc.err))
			if tc.status&sarama.ProducerTxnFlagFatalError == 0 {
				assert.Equal(t, tc.want, saramax.ClassifyTxnError(tc.err), "from the error alone")
			}
		})
	}
}
