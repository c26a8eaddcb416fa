package txnsession

import (
	"context"
	"errors"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/produce"
)

// Producer is one transactional producer (one per session instance), on
// the produce engine. Its methods are called from one goroutine at a time.
type Producer struct {
	e       *produce.Connected
	bound   time.Duration // of Commit, Abort and Close, which take no context
	unknown bool          // the last Commit's outcome is unknown
	// cut ends with Cut: calls in progress and later ones give up at once.
	cut    context.Context
	cutNow context.CancelFunc
}

// Cut cuts the producer's connections and ends its calls in progress, for
// an owner out of time to stop: an open transaction stays open until the
// coordinator aborts it after the transaction timeout (or the next
// producer with the ID does at once). Close must still be called.
// Unlike the other methods it may be called from any goroutine.
func (p *Producer) Cut() {
	p.cutNow()
	p.e.Cut()
}

// Begin starts a transaction.
func (p *Producer) Begin() error {
	p.unknown = false
	return p.e.Begin()
}

// Send hands msg to the producer inside the open transaction. The key is
// hashed with murmur2; msg.Partition is ignored. A record that fails puts
// the transaction in an error state: see [Producer.InError].
func (p *Producer) Send(msg *bulwark.Message) {
	// The engine keeps the outcome: a failed record fails the transaction.
	// o lives until the record's outcome, as its headers do.
	o := new(produce.Outgoing)
	p.e.Produce(context.Background(), o.Record(msg, nil), nil)
}

// InError reports whether the open transaction can no longer commit.
func (p *Producer) InError() bool { return p.e.TxnErr() != nil }

// Err returns why the open transaction can no longer commit, or nil.
func (p *Producer) Err() error { return p.e.TxnErr() }

// Commit adds the consumed offsets (next offset to read, per partition)
// with the group metadata, then flushes the records and commits.
func (p *Producer) Commit(offsets map[TopicPartition]int64, meta GroupMeta) error {
	ctx, cancel := context.WithTimeout(p.cut, p.bound)
	defer cancel()
	if err := p.e.TxnErr(); err != nil {
		return err
	}
	if len(offsets) > 0 {
		byTopic := make(map[string]map[int32]int64, 1)
		for tp, off := range offsets {
			if byTopic[tp.Topic] == nil {
				byTopic[tp.Topic] = map[int32]int64{}
			}
			byTopic[tp.Topic][tp.Partition] = off
		}
		gm := produce.GroupMeta{Group: meta.Group, Generation: meta.Generation, MemberID: meta.MemberID, InstanceID: meta.InstanceID}
		if err := p.e.AddOffsets(ctx, gm, byTopic); err != nil {
			return err
		}
	}
	err := p.e.Commit(ctx)
	p.unknown = errors.Is(err, produce.ErrOutcomeUnknown)
	return err
}

// Abort aborts the open transaction once every record sent has settled
// (written, then aborted: what read_committed must hide).
func (p *Producer) Abort() error {
	ctx, cancel := context.WithTimeout(p.cut, p.bound)
	defer cancel()
	if err := p.e.Flush(ctx); err != nil {
		return err
	}
	return p.e.Abort(ctx)
}

// OutcomeUnknown reports whether the last Commit failed after EndTxn may
// have reached the coordinator.
func (p *Producer) OutcomeUnknown() bool { return p.unknown }

// Close shuts the producer down, bounded by the transaction timeout.
func (p *Producer) Close() error {
	ctx, cancel := context.WithTimeout(p.cut, p.bound)
	defer cancel()
	defer p.cutNow()
	return p.e.Close(ctx)
}
