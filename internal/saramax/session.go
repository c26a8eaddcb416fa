package saramax

import (
	"context"
	"errors"

	"github.com/IBM/sarama"
)

// SessionDropped reports whether a consumer-group session whose context
// is ctx ended because the member was dropped from the group, not because
// of a rebalance or a stop. sarama says why through the context's cause
// (1.61): a rebalance (ErrRebalanceInProgress from a heartbeat, a
// partition count that changed, a ConsumeClaim that chose to return) or a
// cancelled parent is an orderly end; anything else (unknown member,
// illegal generation, fenced instance, a rebalance that timed out,
// heartbeats that failed for lack of a coordinator) means the member's
// partitions may be someone else's already. False while ctx lasts.
func SessionDropped(ctx context.Context) bool {
	cause := context.Cause(ctx)
	switch {
	case cause == nil,
		errors.Is(cause, context.Canceled),
		errors.Is(cause, context.DeadlineExceeded),
		errors.Is(cause, sarama.ErrRebalanceInProgress),
		errors.Is(cause, sarama.ErrSessionPartitionCountChanged),
		errors.Is(cause, sarama.ErrSessionConsumeClaimExited):
		return false
	}
	return true
}
