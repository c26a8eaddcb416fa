package txnsession

import (
	"sync"

	"github.com/bulwarkgo/bulwark/internal/saramagroup"
)

// NextResult is the answer of [Generation.NextDelivered].
type NextResult struct {
	Partition TopicPartition
	From      int64
	// Next is where the next record the member receives can be: From,
	// or past transaction markers and aborted records that follow it.
	Next int64
	Err  error
}

// NextDelivered asks the broker how far the offsets from from (everything
// before it handled; NoOffset: nothing consumed) hold only transaction
// markers and aborted records (saramagroup.Group.NextDelivered). The
// answer is sent on out, which must have room for it, so the caller goes
// on meanwhile. The call ends when answered or with the generation.
func (g *Generation) NextDelivered(tp TopicPartition, from int64, out chan<- NextResult) {
	go func() {
		start := from
		if start == NoOffset {
			start = saramagroup.Oldest // Configs starts partitions there
		}
		next, err := g.group.m.NextDelivered(g.ctx, tp.Topic, tp.Partition, start)
		if err != nil || next < 0 {
			next = from
		}
		out <- NextResult{Partition: tp, From: from, Next: next, Err: err}
	}()
}

// HighWaterMark returns the high watermark of a claimed partition as of
// its consumer's last fetch, or -1 before its claim started.
func (g *Generation) HighWaterMark(tp TopicPartition) int64 { return g.marks.get(tp) }

// watermarks holds the generation's claims, added as their ConsumeClaim
// starts, for their high watermarks.
type watermarks struct {
	mu     sync.Mutex
	claims map[TopicPartition]*saramagroup.Claim
}

func (w *watermarks) add(tp TopicPartition, c *saramagroup.Claim) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.claims == nil {
		w.claims = map[TopicPartition]*saramagroup.Claim{}
	}
	w.claims[tp] = c
}

func (w *watermarks) get(tp TopicPartition) int64 {
	w.mu.Lock()
	c := w.claims[tp]
	w.mu.Unlock()
	if c == nil {
		return -1
	}
	return c.HighWaterMark()
}
