package table

import (
	"bytes"
	"context"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Goroutines: everything here runs on a partition's goroutine, started by
// Open and owned by the Table (see Table); it owns its saramax.Follower
// and its partition's progress, and ends when Close cancels its context.

const (
	// pollRecords bounds the records applied under one lock.
	pollRecords = 512
	// idleWait is how long the restore waits for a record before it asks
	// the broker whether only transaction markers or aborted records, or
	// an open transaction, stand between it and its end.
	idleWait = 100 * time.Millisecond
	// waitWarnAfter: idle probes after which a restore held up (by an
	// open transaction, normally) is logged at WARN, once.
	waitWarnAfter = 50
)

// retry paces what the partition goroutine retries: reading after an
// error, asking for the end offset, a decoder that is unavailable.
var retry = backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second}

// follow restores partition ps, then follows it until ctx ends.
func (t *Table) follow(ctx context.Context, ps *partition) {
	defer t.wg.Done()
	ps.position.Store(-1)
	log := t.cfg.logger.With("partition", ps.id)
	for attempt := 1; ; attempt++ {
		_, end, err := t.reader.Offsets(t.topic, ps.id)
		if err == nil {
			ps.end.Store(end)
			if end == 0 {
				t.restored(ps) // never written to: nothing to restore
			}
			break
		}
		if ctx.Err() != nil {
			return // Close cut the connections
		}
		if worthLogging(attempt) {
			log.WarnContext(ctx, "table: cannot read the end offset of the partition to restore; retrying", "error", err, "attempt", attempt)
		}
		if (clock.Wall{}).Sleep(ctx, retry.Delay(attempt)) != nil {
			return
		}
	}
	onError := func(err error) {
		if ctx.Err() != nil {
			return // Close cut the connections
		}
		log.WarnContext(ctx, "table: error reading the partition; the client retries", "error", err)
	}
	from := saramax.OffsetOldest
	for attempt := 1; ctx.Err() == nil; attempt++ {
		part, err := t.reader.Follow(t.topic, ps.id, from, onError)
		if err != nil {
			if ctx.Err() == nil && worthLogging(attempt) {
				log.WarnContext(ctx, "table: cannot start reading the partition; retrying", "error", err, "offset", from, "attempt", attempt)
			}
			if (clock.Wall{}).Sleep(ctx, retry.Delay(attempt)) != nil {
				return
			}
			continue
		}
		next := t.consume(ctx, ps, part, from)
		part.Close()
		if next != from {
			attempt = 0
		} else if (clock.Wall{}).Sleep(ctx, retry.Delay(attempt)) != nil {
			// The reader ended without a record (sarama shut it down
			// at once): do not spin on reopening it.
			return
		}
		from = next
	}
}

// consume applies part's records from offset from (or the partition's
// start) until ctx ends or the reader ends by itself; it returns where to
// read on from.
func (t *Table) consume(ctx context.Context, ps *partition, part *saramax.Follower, from int64) int64 {
	buf := make([]saramax.Record, 0, pollRecords)
	idle := 0
	for {
		wait := time.Duration(0) // following: wait for the next record however long
		if !ps.restored.Load() {
			wait = idleWait
		}
		var open bool
		buf, open = part.Poll(ctx.Done(), wait, pollRecords, buf[:0])
		if ctx.Err() != nil {
			return from
		}
		if len(buf) > 0 {
			if !t.apply(ctx, ps, buf) {
				return from
			}
			from = buf[len(buf)-1].Offset + 1
			ps.position.Store(from)
			idle = 0
			if !ps.restored.Load() && from >= ps.end.Load() {
				t.restored(ps)
			}
		} else if !ps.restored.Load() {
			idle++
			t.probe(ps, from, idle)
		}
		clear(buf)
		if !open {
			return from
		}
	}
}

// probe asks whether anything the restore would receive is left before
// its end: the last records before the end may be transaction markers or
// aborted records, which never arrive.
func (t *Table) probe(ps *partition, from int64, idle int) {
	next, err := t.reader.NextDelivered(t.topic, ps.id, from)
	if err == nil && t.cfg.onProbe != nil {
		t.cfg.onProbe(ps.id, next)
	}
	switch {
	case err != nil:
		if idle%waitWarnAfter == 0 {
			t.cfg.logger.Warn("table: cannot tell whether the partition is restored; retrying", "partition", ps.id, "error", err)
		}
	case next >= ps.end.Load():
		t.restored(ps)
	case idle == waitWarnAfter:
		t.cfg.logger.Warn("table: restore of the partition waits for an open transaction (its last stable offset is below the end to restore)",
			"partition", ps.id, "last_stable_offset", next, "restore_end", ps.end.Load())
	}
}

func (t *Table) restored(ps *partition) {
	if !ps.restored.CompareAndSwap(false, true) {
		return
	}
	if t.pending.Add(-1) == 0 {
		close(t.ready)
	}
}

// change is one applied record that changed the table, for the callback.
type change struct{ key, old, new []byte }

// apply writes msgs to the table, in order, and calls the change callback.
// It returns false when ctx ended while a value was being decoded.
func (t *Table) apply(ctx context.Context, ps *partition, msgs []saramax.Record) bool {
	decoded := make([]any, len(msgs))
	if t.cfg.decoder != nil {
		for i, m := range msgs {
			if m.Key == nil || m.Value == nil {
				continue
			}
			v, ok := t.decode(ctx, ps, &m)
			if !ok {
				return false
			}
			decoded[i] = v
		}
	}
	var changes []change
	var records, size int64
	t.mu.Lock()
	for i, m := range msgs {
		records++
		size += int64(len(m.Key) + len(m.Value))
		if m.Key == nil {
			t.skipped.Add(1)
			continue
		}
		old, had := t.entries[string(m.Key)]
		var value []byte
		if m.Value == nil {
			delete(t.entries, string(m.Key))
		} else {
			value = bytes.Clone(m.Value)
			t.entries[string(m.Key)] = entry{value: value, decoded: decoded[i]}
		}
		if t.cfg.onChange != nil && (had || value != nil) {
			changes = append(changes, change{bytes.Clone(m.Key), old.value, value})
		}
	}
	t.mu.Unlock()
	ps.records.Add(records)
	ps.bytes.Add(size)
	for _, c := range changes {
		t.cfg.onChange(c.key, c.old, c.new)
	}
	return true
}

// decode decodes m's value, retrying while the decoder's error is not the
// record's fault. It returns false when ctx ends first.
func (t *Table) decode(ctx context.Context, ps *partition, m *saramax.Record) (any, bool) {
	for attempt := 1; ; attempt++ {
		v, err := t.cfg.decoder.Deserialize(ctx, t.topic, false, m.Value)
		if err == nil {
			return v, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		if bulwark.ClassOf(err) == bulwark.ClassPermanent {
			t.decodeEr.Add(1)
			t.cfg.logger.Warn("table: value cannot be decoded; keeping its bytes", "partition", ps.id, "offset", m.Offset, "error", err)
			return &DecodeError{Partition: ps.id, Offset: m.Offset, Err: err}, true
		}
		if !worthLogging(attempt) {
			if (clock.Wall{}).Sleep(ctx, retry.Delay(attempt)) != nil {
				return nil, false
			}
			continue
		}
		t.cfg.logger.Warn("table: decoder unavailable; the partition waits and retries", "partition", ps.id, "offset", m.Offset, "error", err, "attempt", attempt)
		if (clock.Wall{}).Sleep(ctx, retry.Delay(attempt)) != nil {
			return nil, false
		}
	}
}

// worthLogging: the first failure of a retried step, then every tenth.
func worthLogging(attempt int) bool { return attempt == 1 || attempt%10 == 0 }
