package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/saramagroup"
)

// WithRebalanceListener tells l when partitions are assigned, revoked or
// lost (see bulwark.RebalanceListener). The calls run on the goroutine of
// the partition concerned (its ConsumeClaim), never two at once; a call
// names the partitions whose change arrived together:
//
//   - Assigned runs before the partition's first record is handed to the
//     handler.
//   - Revoked runs once the partition's records in flight have finished
//     (or their grace period, [WithGracePeriod], ended: those that did not
//     finish are not committed and go to the next owner) and the final
//     commit of what finished succeeded; the partition is released to the
//     group only after Revoked returns. It also runs for every partition
//     when Run stops.
//   - Lost replaces Revoked when the session ended because the member was
//     dropped (session timeout, lost coordinator, fenced) or the final
//     commit failed: records this member finished since its last commit
//     are delivered again to the next owner.
//
// The context carries Run's values but not its cancellation, and ends
// after 5 seconds: the group waits for the listener (within the rebalance
// timeout, the grace period plus 10 s, which covers draining, the final
// commit and the listener), and so does a stop, up to Run's bound
// ([StopMargin]). Default: none.
func WithRebalanceListener(l bulwark.RebalanceListener) Option {
	return func(c *config) {
		if l == nil {
			c.invalid("rebalance listener is nil")
		}
		c.listener = l
	}
}

type rebalanceKind int

const (
	assigned rebalanceKind = iota
	revoked
	lost
)

// rebalanceCalls serializes listener calls and batches the partitions
// whose change arrives while a call runs: a partition's goroutine queues
// its partition, then takes the call lock; whoever holds it announces
// everything queued of that kind, so by the time a goroutine gets the lock
// its own partition has been announced, by itself or by another.
type rebalanceCalls struct {
	l     bulwark.RebalanceListener
	call  sync.Mutex // held while the listener runs
	mu    sync.Mutex // guards queue
	queue [3][]bulwark.TopicPartition
}

// announce tells the listener that tp was assigned, revoked or lost, and
// returns once it has been told.
func (rc *rebalanceCalls) announce(ctx context.Context, kind rebalanceKind, tp bulwark.TopicPartition) {
	if rc == nil || rc.l == nil {
		return
	}
	rc.mu.Lock()
	rc.queue[kind] = append(rc.queue[kind], tp)
	rc.mu.Unlock()
	rc.call.Lock()
	defer rc.call.Unlock()
	rc.mu.Lock()
	batch := rc.queue[kind]
	rc.queue[kind] = nil
	rc.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	switch kind {
	case assigned:
		rc.l.Assigned(ctx, batch)
	case revoked:
		rc.l.Revoked(ctx, batch)
	case lost:
		rc.l.Lost(ctx, batch)
	}
}

// listenerTimeout bounds a listener call's context.
const listenerTimeout = 5 * time.Second

// listen announces a change of tp to the listener, if any.
func (c *Consumer) listen(kind rebalanceKind, tp bulwark.TopicPartition) {
	if c.rebalance == nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.runValues, listenerTimeout)
	defer cancel()
	c.rebalance.announce(ctx, kind, tp)
}

// releasedCleanly reports whether r's partition was given up cleanly:
// everything that finished is committed and the session did not end
// because the member was dropped (a stop by Run's context is clean).
func (c *Consumer) releasedCleanly(sess *saramagroup.Session, r *partitionRunner) bool {
	if off := r.tracker.Committable(); off >= 0 && off > r.committedPub.Load() {
		return false
	}
	select {
	case <-c.runDone:
		return true
	default:
		return !sess.Failed()
	}
}
