package consumer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/saramagroup"
)

// State is what a member reports for a health check.
//
// A partition of a consumer has caught up once every record up to where
// it ended when the member looked it up, just after the assignment, has
// finished (handled, dead-lettered, or skipped as a transaction marker).
type State = bulwark.MemberState

// readiness is the consumer's part of State; the runners hold the
// per-partition part.
type readiness struct {
	joined atomic.Bool
	ready  chan struct{}
	once   sync.Once
}

// Ready is closed the first time the consumer is caught up
// ([State].CaughtUp): a startup probe can wait for it. It stays closed;
// use [Consumer.State] for what holds now. The check runs with each
// periodic commit ([WithCommitInterval]), so readiness shows up to one
// interval late. Under read_committed a transaction left open on an input
// partition delays it until the transaction ends.
func (c *Consumer) Ready() <-chan struct{} { return c.readiness.ready }

// State returns the consumer's state now; safe at any time.
func (c *Consumer) State() State {
	s := State{Joined: c.readiness.joined.Load()}
	c.mu.Lock()
	for _, r := range c.runners {
		s.Partitions++
		if r.caughtUp.Load() {
			s.CaughtUpPartitions++
		}
	}
	c.mu.Unlock()
	s.CaughtUp = s.Joined && s.CaughtUpPartitions == s.Partitions
	return s
}

// lookupTimeout bounds the end-offset lookups of one readiness check, so
// that a leader that does not answer holds the commit loop up only this
// long.
const lookupTimeout = time.Second

// checkCaughtUp marks the runners that reached the end their partition
// had when they looked it up, and closes Ready once all did. It runs on
// the commit loop's goroutine, which alone uses the runners' target and
// start.
func (c *Consumer) checkCaughtUp(ctx context.Context) {
	var rs []*partitionRunner
	c.mu.Lock()
	for _, r := range c.runners {
		if !r.caughtUp.Load() && !r.released.Load() {
			rs = append(rs, r)
		}
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	for _, r := range rs {
		if r.target < 0 && !c.lookUpTarget(ctx, r) {
			continue
		}
		// Finished, not merely taken from Kafka: what is committable.
		pos := r.tracker.Committable()
		if pos < 0 {
			pos = r.start
		}
		if pos >= r.target {
			r.caughtUp.Store(true)
		}
	}
	if st := c.State(); st.CaughtUp {
		c.readiness.once.Do(func() { close(c.readiness.ready) })
	}
}

// lookUpTarget finds where r's partition ends now, and where consumption
// starts when nothing was committed; false if the broker did not say.
func (c *Consumer) lookUpTarget(ctx context.Context, r *partitionRunner) bool {
	start := r.claim.InitialOffset()
	if start < 0 {
		at := saramagroup.Oldest
		if c.cfg.fromNewest {
			at = saramagroup.Newest
		}
		var err error
		if start, err = c.g.OffsetAt(ctx, r.topic, r.partition, at); err != nil {
			c.log.DebugContext(ctx, "readiness: looking up the start failed", "topic", r.topic, "partition", r.partition, "error", err)
			return false
		}
	}
	end, err := c.g.OffsetAt(ctx, r.topic, r.partition, saramagroup.Newest)
	if err != nil {
		c.log.DebugContext(ctx, "readiness: looking up the end failed", "topic", r.topic, "partition", r.partition, "error", err)
		return false
	}
	r.start, r.target = start, end
	return true
}
