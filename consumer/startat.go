package consumer

import (
	"context"
	"time"

	"github.com/bulwarkgo/bulwark"
)

// WithStartAt positions each partition that is assigned without a
// committed offset (a new group, a partition the group never committed,
// offsets deleted by retention) at where start says: a [Position] from
// [ToTimestamp], [ToOffsets], [ToEarliest] or [ToLatest]; the zero
// Position, or a partition ToOffsets does not name, keeps the default
// ([WithStartFromOldest] / [WithStartFromNewest]). A partition with a
// committed offset always resumes there: to move a group that has
// commits, stop it and use [ResetOffsets].
//
// The position is committed with the next periodic commit, so a later
// owner resumes there too. Consumption still begins at the default start
// and the records before the position are fetched and dropped unhandled:
// far from the default, WithStartFromNewest (for [ToLatest]) or
// [ResetOffsets] is cheaper. When the position cannot be looked up (a
// leader that does not answer within a few seconds), the partition starts
// at the default, with a WARN. Default: none.
func WithStartAt(start func(bulwark.TopicPartition) Position) Option {
	return func(c *config) {
		if start == nil {
			c.invalid("start-at function is nil")
		}
		c.startAt = start
	}
}

// startAtTimeout bounds looking up a partition's start position.
const startAtTimeout = 5 * time.Second

// positionStart applies WithStartAt to a runner whose partition has no
// committed offset; on the partition's goroutine, before run.
func (c *Consumer) positionStart(r *partitionRunner, tp bulwark.TopicPartition) {
	pos := c.cfg.startAt(tp)
	if !pos.set {
		return
	}
	var off int64
	if pos.target.Offsets != nil {
		o, ok := pos.target.Offsets[tp.Partition]
		if !ok {
			return
		}
		off = o
	} else {
		ctx, cancel := context.WithTimeout(c.runValues, startAtTimeout)
		var err error
		off, err = c.g.OffsetAt(ctx, tp.Topic, tp.Partition, pos.target.At)
		cancel()
		if err != nil {
			c.log.WarnContext(ctx, "start position not found; starting at the default", "topic", tp.Topic, "partition", tp.Partition, "error", err)
			return
		}
	}
	if off <= 0 {
		return // the start of the partition: the default start is never past it
	}
	r.startAt = off
	r.tracker.SkipTo(off)
	r.nextOffset.Store(off)
}

// dropBeforeStart removes the records before the WithStartAt position
// from what read took; once one at or after it came, later ones are too.
func (r *partitionRunner) dropBeforeStart(held []record) []record {
	if r.startAt <= 0 {
		return held
	}
	i := 0
	for i < len(held) && held[i].msg.Offset < r.startAt {
		i++
	}
	if i < len(held) {
		r.startAt = 0
	}
	n := copy(held, held[i:])
	clear(held[n:])
	return held[:n]
}
