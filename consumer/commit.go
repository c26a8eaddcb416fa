package consumer

import (
	"context"
	"errors"
	"time"

	"github.com/bulwarkgo/bulwark/internal/saramagroup"
)

// Commits: the commit loop's goroutine commits every partition's finished
// offsets each commit interval; a partition's goroutine (ConsumeClaim)
// commits its own, and those of partitions released with it, once it
// drained. Consumer.commitSem lets one commit run at a time and guards
// partitionRunner.committed and .markers.

// commitLoop commits finished offsets every commit interval until ctx
// ends.
func (c *Consumer) commitLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.commitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		bySession := map[*saramagroup.Session][]*partitionRunner{}
		for _, r := range c.runners {
			bySession[r.sess] = append(bySession[r.sess], r)
		}
		c.mu.Unlock()
		for sess, rs := range bySession {
			// A commit that hangs must not hold up the next ones for long.
			cctx, cancel := context.WithTimeout(ctx, max(c.cfg.commitInterval, loopCommitTimeout))
			c.commitPartitions(cctx, sess, func() []*partitionRunner { return rs }, 1)
			cancel()
		}
		c.checkCaughtUp(ctx)
	}
}

// loopCommitTimeout is the least time a periodic commit gets.
const loopCommitTimeout = 5 * time.Second

// releasedRunners returns r and the other partitions of sess that were
// released and wait for their final commit.
func (c *Consumer) releasedRunners(sess *saramagroup.Session, r *partitionRunner) []*partitionRunner {
	rs := []*partitionRunner{r}
	c.mu.Lock()
	for _, o := range c.runners {
		if o != r && o.sess == sess && o.released.Load() {
			rs = append(rs, o)
		}
	}
	c.mu.Unlock()
	return rs
}

// commitPartitions commits the finished offsets of the partitions that
// runners returns (asked once the commit's turn has come), in one request,
// trying up to tries times while ctx lasts. A failed commit is only
// logged: the offsets stay tracked and go out with the next commit, and
// an offset never committed means records are delivered again, never
// lost.
func (c *Consumer) commitPartitions(ctx context.Context, sess *saramagroup.Session, runners func() []*partitionRunner, tries int) {
	select {
	case c.commitSem <- struct{}{}:
	case <-ctx.Done():
		c.log.WarnContext(ctx, "commit skipped: no time left", "error", context.Cause(ctx))
		return
	}
	defer func() { <-c.commitSem }()
	rs := runners()
	// The probes get half of the commit's time: a leader that hangs must
	// not use up what the commit itself needs.
	probeCtx, cancel := halfOf(ctx)
	for _, r := range rs {
		c.skipMarkers(probeCtx, r)
	}
	cancel()
	for try := 1; try <= tries; try++ {
		var offsets []saramagroup.Offset
		var owners []*partitionRunner
		for _, r := range rs {
			if off := r.tracker.Committable(); off >= 0 && off > r.committed {
				offsets = append(offsets, saramagroup.Offset{Topic: r.topic, Partition: r.partition, Offset: off})
				owners = append(owners, r)
			}
		}
		if len(offsets) == 0 {
			return
		}
		start := time.Now()
		err := c.g.Commit(ctx, sess, offsets)
		c.tel.commitDone(time.Since(start), err)
		var ce *saramagroup.CommitError
		if err != nil && !errors.As(err, &ce) {
			c.log.WarnContext(ctx, "commit failed", "error", err, "try", try)
		} else {
			for i, o := range offsets {
				if ce != nil {
					if perr := ce.Failed[o.Topic][o.Partition]; perr != nil {
						c.log.WarnContext(ctx, "commit failed", "topic", o.Topic, "partition", o.Partition, "error", perr, "try", try)
						continue
					}
				}
				owners[i].committed = o.Offset
				owners[i].committedPub.Store(o.Offset)
			}
			if err == nil {
				return
			}
		}
		if try < tries && sleep(ctx, 100*time.Millisecond) != nil {
			return
		}
	}
}

// halfOf returns ctx bounded by half of the time it has left, or ctx
// itself when it has no deadline.
func halfOf(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(deadline)/2)
}
