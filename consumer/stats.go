package consumer

import (
	"sort"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the consumer's state.
type Stats struct {
	// Partitions lists the partitions assigned now, by topic and number.
	Partitions []PartitionStats
	// InFlightRecords and InFlightBytes are records taken from Kafka and
	// handed to handlers but not finished; PeakInFlightRecords is the most
	// there ever were at once.
	InFlightRecords     int
	InFlightBytes       int64
	PeakInFlightRecords int

	Consumed     int64 // records taken from Kafka
	Handled      int64 // records the handler finished without error
	Failed       int64 // handler calls that returned an error, pause-class ones excepted
	Retried      int64 // in-place retries
	DeadLettered int64 // records written to a dead-letter topic
	Paused       int64 // handler calls that returned a pause-class error
	// WriteFailures counts failed writes to dead-letter and retry topics;
	// each is tried again while its partition waits (PartitionStats.BlockedOn).
	WriteFailures int64
	// MissingTopics lists the subscribed topics Run is waiting for
	// ([WithWaitForTopics]); empty otherwise.
	MissingTopics []string

	Commits           int64 // offset commit requests sent
	CommitFailures    int64 // of which failed
	LastCommitLatency time.Duration
	MaxCommitLatency  time.Duration
}

// PartitionStats describes one assigned partition.
type PartitionStats struct {
	Topic     string
	Partition int32
	// NextOffset is the offset after the last record taken, or past the
	// transaction markers and aborted records that follow it once the
	// partition is idle there (-1: none yet and no committed offset
	// known). Once everything is handled it is what gets committed.
	NextOffset int64
	// Committed is the last offset this member committed (or found
	// committed when the partition was assigned); -1 when none.
	Committed int64
	// Lag is the high watermark minus NextOffset; -1 when unknown. For a
	// caught-up consumer it is 0, as Kafka's tools compute from the
	// committed offset, also on topics written by transactions.
	Lag int64
	// InFlight counts records handed to handlers and not finished;
	// Buffered counts fetched records waiting for in-flight room.
	InFlight int
	Buffered int
	// Paused reports whether fetching is paused (in-flight limit or a
	// pause-class error).
	Paused bool
	// BlockedOn names the dead-letter or retry topic the partition waits
	// for while writes to it fail, BlockedErr the last failure; "" and
	// nil when not blocked.
	BlockedOn  string
	BlockedErr error
	// CaughtUp: the partition has been caught up at least once since it
	// was assigned (see [State]).
	CaughtUp bool
}

// Stats returns a snapshot; safe to call at any time, also concurrently
// with Run.
func (c *Consumer) Stats() Stats {
	records, bytes, peak := c.budget.usage()
	s := Stats{
		InFlightRecords:     records,
		InFlightBytes:       bytes,
		PeakInFlightRecords: peak,
		Consumed:            c.counts.consumed.Load(),
		Handled:             c.counts.handled.Load(),
		Failed:              c.counts.failed.Load(),
		Retried:             c.counts.retried.Load(),
		DeadLettered:        c.counts.deadLettered.Load(),
		Paused:              c.counts.paused.Load(),
		Commits:             c.counts.commits.Load(),
		CommitFailures:      c.counts.commitFailures.Load(),
		WriteFailures:       c.counts.writeFailures.Load(),
		LastCommitLatency:   time.Duration(c.counts.lastCommitNanos.Load()),
		MaxCommitLatency:    time.Duration(c.counts.maxCommitNanos.Load()),
	}
	if m := c.missing.Load(); m != nil {
		s.MissingTopics = append([]string(nil), (*m)...)
	}
	c.mu.Lock()
	for _, r := range c.runners {
		blockedOn, blockedErr := r.blockState()
		next := r.nextOffset.Load()
		lag := int64(-1)
		if hwm := r.claim.HighWaterMark(); next >= 0 && hwm >= next {
			lag = hwm - next
		}
		s.Partitions = append(s.Partitions, PartitionStats{
			Topic:      r.topic,
			Partition:  r.partition,
			NextOffset: next,
			Committed:  r.committedPub.Load(),
			Lag:        lag,
			InFlight:   r.tracker.InFlight(),
			Buffered:   int(r.buffered.Load() + r.stashed.Load()),
			Paused:     r.paused(),
			BlockedOn:  blockedOn,
			BlockedErr: blockedErr,
			CaughtUp:   r.caughtUp.Load(),
		})
	}
	c.mu.Unlock()
	sort.Slice(s.Partitions, func(i, j int) bool {
		a, b := s.Partitions[i], s.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return s
}

// counts are the running totals reported by Stats. They are written only
// through the methods below, so that each total has one writer here.
type counts struct {
	consumed, handled, failed, retried, deadLettered, paused atomic.Int64
	commits, commitFailures, writeFailures                   atomic.Int64
	lastCommitNanos, maxCommitNanos                          atomic.Int64
}

// addConsumed counts n records taken from Kafka.
func (k *counts) addConsumed(n int) { k.consumed.Add(int64(n)) }

// addHandled counts n records the handler finished without error.
func (k *counts) addHandled(n int) { k.handled.Add(int64(n)) }

// addFailed counts a handler error other than a pause-class one.
func (k *counts) addFailed() { k.failed.Add(1) }

// addPaused counts a pause-class handler error.
func (k *counts) addPaused() { k.paused.Add(1) }

// addRetried counts a retry in place or a move to a retry topic.
func (k *counts) addRetried() { k.retried.Add(1) }

// addDeadLettered counts a record written to a dead-letter topic.
func (k *counts) addDeadLettered() { k.deadLettered.Add(1) }

// addWriteFailure counts a failed dead-letter or retry-topic write.
func (k *counts) addWriteFailure() { k.writeFailures.Add(1) }

// addCommit counts a commit request that took d and failed with err (nil:
// succeeded).
func (k *counts) addCommit(d time.Duration, err error) {
	// The latency first, then the count: a reader that sees the count
	// move sees this commit's latency (or a later one's).
	n := int64(d)
	k.lastCommitNanos.Store(n)
	for {
		m := k.maxCommitNanos.Load()
		if n <= m || k.maxCommitNanos.CompareAndSwap(m, n) {
			break
		}
	}
	if err != nil {
		k.commitFailures.Add(1)
	}
	k.commits.Add(1)
}
