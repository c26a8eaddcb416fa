package consumer

import "context"

// A transactional producer ends each transaction with a marker (a control
// record) in every partition it wrote, and under read_committed the
// records of an aborted transaction are never delivered either. sarama's
// consumer reads past both without telling, so "one past the last record
// handled" stays short of the end: Kafka's tools would show a lag that
// never goes away, and a partition whose records were all aborted would
// never be committed. When a partition has been idle at the same offset
// for a whole commit interval while the high watermark is beyond it,
// skipMarkers asks the broker how far the offsets hold nothing to deliver
// and lets the commit go there.

// noOffset marks the idle fields as unset.
const noOffset int64 = -3

// markerState is what skipMarkers remembers of a partition between
// commits; guarded by Consumer.commitSem.
type markerState struct {
	// idleAt is the offset the partition was idle at in the last commit.
	idleAt int64
	// probedAt and probedHWM are where the last probe was made, so that
	// one that found a record to come is not repeated.
	probedAt, probedHWM int64
}

func newMarkerState() markerState {
	return markerState{idleAt: noOffset, probedAt: noOffset, probedHWM: noOffset}
}

// skipMarkers moves r's committable offset past markers and aborted
// records that follow the last record taken. Called with commitSem held.
func (c *Consumer) skipMarkers(ctx context.Context, r *partitionRunner) {
	m := &r.markers
	next, idle := r.tracker.Idle()
	hwm := r.claim.HighWaterMark()
	if !idle || r.buffered.Load()+r.stashed.Load() > 0 || hwm <= max(next, 0) {
		m.idleAt = noOffset
		return
	}
	// Idle at next since the last commit, with the high watermark beyond:
	// either the offsets there deliver nothing, or sarama has yet to
	// fetch them. Waiting a commit interval first keeps the probe off
	// partitions that are merely behind.
	stalled := m.idleAt == next
	m.idleAt = next
	if !stalled || m.probedAt == next && m.probedHWM == hwm {
		return
	}
	m.probedAt, m.probedHWM = next, hwm
	to, err := c.g.NextDelivered(ctx, r.topic, r.partition, next)
	if err != nil {
		c.log.DebugContext(ctx, "looking past transaction markers failed", "topic", r.topic, "partition", r.partition, "offset", next, "error", err)
		m.probedAt = noOffset // try again at the next commit
		return
	}
	if to <= next {
		return
	}
	c.log.DebugContext(ctx, "committing past transaction markers", "topic", r.topic, "partition", r.partition, "from", next, "to", to)
	r.tracker.SkipTo(to)
	for {
		cur := r.nextOffset.Load()
		if cur >= to || r.nextOffset.CompareAndSwap(cur, to) {
			break
		}
	}
}
