package txnsession

import (
	"sync"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/saramax"
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
// markers and aborted records, which sarama reads past without delivering
// (see saramax.NextDelivered). The answer is sent on out, which must have
// room for it: the call takes no context, and the caller goes on
// meanwhile. The call ends when it is answered or when [Group.Run] closes
// the client, which waits for it.
func (g *Generation) NextDelivered(tp TopicPartition, from int64, out chan<- NextResult) {
	g.group.probes.Go(func() {
		start := from
		if start == NoOffset {
			start = sarama.OffsetOldest // Configs starts partitions there
		}
		next, err := saramax.NextDelivered(g.group.client, tp.Topic, tp.Partition, start)
		if err != nil || next < 0 {
			next = from
		}
		out <- NextResult{Partition: tp, From: from, Next: next, Err: err}
	})
}

// HighWaterMark returns the high watermark of a claimed partition as of
// its consumer's last fetch, or -1 before its claim started.
func (g *Generation) HighWaterMark(tp TopicPartition) int64 { return g.marks.get(tp) }

// watermarks holds the generation's claims, added as their ConsumeClaim
// starts, for their high watermarks.
type watermarks struct {
	mu     sync.Mutex
	claims map[TopicPartition]sarama.ConsumerGroupClaim
}

func (w *watermarks) add(tp TopicPartition, c sarama.ConsumerGroupClaim) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.claims == nil {
		w.claims = map[TopicPartition]sarama.ConsumerGroupClaim{}
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
	return c.HighWaterMarkOffset()
}
