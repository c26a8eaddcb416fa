package produce

import (
	"math"
	"time"

	"github.com/IBM/sarama"
)

// topicState holds a topic's partitions, fixed at first use.
type topicState struct {
	parts       []*partition
	partitioner sarama.Partitioner
}

// partition is the state of one topic partition; every field is guarded
// by the engine lock.
type partition struct {
	topic string
	id    int32

	sender  *sender // nil while the partition waits for a leader
	routing bool    // queued on the router
	refresh bool    // the router must refresh metadata before the lookup
	retryAt time.Time

	seqOf    identity // the producer identity nextSeq counts under
	nextSeq  int32
	queue    []*batch // oldest first; only the last may be open
	inflight bool     // queue[0] is in a request
	lost     error    // transactional engine: sequence state lost until Abort renews the epoch

	// Transactions (txn.go): txnHold keeps a transactional engine's
	// partition from sending until it is in the open transaction;
	// txn says how far adding it got.
	txnHold bool
	txn     txnPart
}

// openBatch returns the batch r goes in, opening one when the last is
// sealed or has no room, and whether the batch it returns is new.
func (p *partition) openBatch(size int, o *options, now time.Time) (*batch, bool) {
	if n := len(p.queue); n > 0 {
		b := p.queue[n-1]
		if !b.sealed && len(b.recs) < o.maxBatchRecords && b.bytes+size <= o.maxBatchBytes {
			return b, false
		}
	}
	b := newBatch(p, now)
	b.codec, b.level = o.codec, o.level
	p.queue = append(p.queue, b)
	return b, true
}

// pop removes queue[0], which has settled.
func (p *partition) pop() *batch {
	b := p.queue[0]
	n := copy(p.queue, p.queue[1:])
	p.queue[n] = nil
	p.queue = p.queue[:n]
	return b
}

// ready reports whether queue[0] may be sent now, and else when it may.
func (p *partition) ready(now time.Time, o *options, flushing bool) (bool, time.Time) {
	if p.inflight || p.lost != nil || p.txnHold || len(p.queue) == 0 {
		return false, time.Time{}
	}
	if now.Before(p.retryAt) {
		return false, p.retryAt
	}
	b := p.queue[0]
	if b.sealed || flushing || len(p.queue) > 1 || len(b.recs) >= o.maxBatchRecords {
		return true, time.Time{}
	}
	at := b.created.Add(o.linger)
	if !now.Before(at) {
		return true, time.Time{}
	}
	return false, at
}

// sealNext gives queue[0] its identity and sequence unless it has them
// for good, and reports whether it may be sent now. A batch that was sent
// and may have been written keeps what it was sent with (see epoch.go);
// any other waits while a bump is wanted, and a partition whose sequences
// count under an older identity starts again at 0 under the current one.
func (p *partition) sealNext(id identity, bumpWanted bool) bool {
	b := p.queue[0]
	if b.sent {
		return true
	}
	if bumpWanted {
		return false
	}
	if p.seqOf != id {
		p.seqOf = id
		p.nextSeq = 0
		b.sealed = false
	}
	if !b.sealed {
		b.seal(id.pid, id.epoch, p.nextSeq)
		p.nextSeq = addSeq(p.nextSeq, len(b.recs))
	}
	return true
}

// addSeq moves a sequence number by n, wrapping from math.MaxInt32 to 0
// (and back) as Kafka does.
func addSeq(seq int32, n int) int32 {
	const period = int64(math.MaxInt32) + 1
	v := (int64(seq) + int64(n)) % period
	if v < 0 {
		v += period
	}
	return int32(v)
}
