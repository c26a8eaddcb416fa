package produce

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
)

// In answer to TxnOffsetCommit the group's errors mean group fencing, and
// FENCED_INSTANCE_ID is the group member's, not the producer's.
func TestTxnOffsetCommitClasses(t *testing.T) {
	for _, c := range []struct {
		err          error
		offsetCommit bool
		want         TxnClass
	}{
		{sarama.ErrIllegalGeneration, true, GroupFenced},
		{sarama.ErrUnknownMemberId, true, GroupFenced},
		{fmt.Errorf("commit offsets: %w", sarama.ErrRebalanceInProgress), true, GroupFenced},
		{sarama.ErrFencedInstancedId, true, GroupFenced},
		{sarama.ErrFencedInstancedId, false, Fenced},
		{sarama.ErrRebalanceInProgress, false, Abortable},
		{sarama.ErrProducerFenced, true, Fenced},
		{sarama.ErrTransactionalIDAuthorizationFailed, true, Fatal},
	} {
		if got := classOf(c.err, c.offsetCommit); got != c.want {
			t.Errorf("classOf(%v, offsetCommit %v) = %v, want %v", c.err, c.offsetCommit, got, c.want)
		}
	}
}
