package eos

import (
	"time"

	"github.com/bulwarkgo/bulwark/internal/txnsession"
)

// A transactional producer ends each transaction with a marker (a control
// record) in every partition it wrote, and the records of an aborted
// transaction are never delivered (eos reads read_committed). sarama reads
// past both without telling, so offsets committed as "one past the last
// record processed" stay short of the end: Kafka's tools would show a lag
// that never goes away, and a partition whose records were all aborted
// would never be committed. When a partition has been idle at its
// committed offset for a tick while its high watermark is beyond it, the
// loop asks the broker how far the offsets hold nothing to deliver and
// commits there with the open transaction, or with one it opens (holding
// only offsets, unless records come before the batch interval ends).

// markerTick is how often idle partitions are looked at.
const markerTick = 200 * time.Millisecond

// partitionMarks is what the loop knows of one claimed partition's
// position.
type partitionMarks struct {
	committed int64 // committed offset (NoOffset: none)
	idleAt    int64 // committed offset at the last tick it was idle (-3: none)
	probedAt  int64 // where the last probe was made, with probedHWM
	probedHWM int64
	probing   bool // a probe is in flight
	caughtUp  bool // readiness.go
}

const unset int64 = -3

type markerState struct {
	parts  map[txnsession.TopicPartition]*partitionMarks
	ticker *time.Ticker
	// results receives the probes' answers; room for one per partition,
	// the most in flight.
	results chan txnsession.NextResult
}

func (l *txnLoop) initMarkers() {
	l.marks.parts = make(map[txnsession.TopicPartition]*partitionMarks, len(l.gen.Claims))
	for _, tp := range l.gen.Claims {
		off, ok := l.gen.Start[tp]
		if !ok {
			off = txnsession.NoOffset
		}
		l.marks.parts[tp] = &partitionMarks{committed: off, idleAt: unset, probedAt: unset, probedHWM: unset}
	}
	l.marks.ticker = time.NewTicker(markerTick)
	l.marks.results = make(chan txnsession.NextResult, len(l.gen.Claims))
}

func (l *txnLoop) stopMarkers() { l.marks.ticker.Stop() }

// markCommitted records the offsets of a committed transaction.
func (l *txnLoop) markCommitted() {
	for tp, off := range l.next {
		if pm := l.marks.parts[tp]; pm != nil {
			pm.committed = off
		}
	}
	l.updateCaughtUp()
}

// checkIdle starts a probe for each partition idle at its committed
// offset since the last tick with its high watermark beyond.
func (l *txnLoop) checkIdle() {
	l.updateCaughtUp()
	for _, tp := range l.gen.Claims {
		pm := l.marks.parts[tp]
		_, inTxn := l.next[tp]
		hwm := l.gen.HighWaterMark(tp)
		if inTxn || hwm <= max(pm.committed, 0) {
			pm.idleAt = unset
			continue
		}
		stalled := pm.idleAt == pm.committed
		pm.idleAt = pm.committed
		if !stalled || pm.probing || pm.probedAt == pm.committed && pm.probedHWM == hwm {
			continue
		}
		pm.probedAt, pm.probedHWM, pm.probing = pm.committed, hwm, true
		l.gen.NextDelivered(tp, pm.committed, l.marks.results)
	}
}

// probed takes a probe's answer: if the partition has not moved since,
// its offset past the markers is committed with the open transaction, or
// in one of its own.
func (l *txnLoop) probed(res txnsession.NextResult) error {
	pm := l.marks.parts[res.Partition]
	pm.probing = false
	if res.Err != nil {
		l.s.opts.logger.Debug("eos: looking past transaction markers failed", "topic", res.Partition.Topic,
			"partition", res.Partition.Partition, "offset", res.From, "error", res.Err)
		pm.probedAt = unset // try again
		return nil
	}
	if _, inTxn := l.next[res.Partition]; inTxn || pm.committed != res.From || res.Next <= res.From {
		return nil
	}
	l.s.opts.logger.Debug("eos: committing past transaction markers", "topic", res.Partition.Topic,
		"partition", res.Partition.Partition, "from", res.From, "to", res.Next)
	if !l.open {
		// Committed when the batch interval ends, with other partitions'
		// offsets and records that come meanwhile.
		if err := l.begin(); err != nil {
			return err
		}
	}
	l.next[res.Partition] = res.Next
	pm.probedAt = unset // should this transaction abort, probe again
	return nil
}
