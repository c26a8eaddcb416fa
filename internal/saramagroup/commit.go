package saramagroup

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Offset is a commit for one partition: the next offset to consume.
type Offset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// CommitError lists the partitions whose commit failed, by cause.
type CommitError struct {
	Failed map[string]map[int32]error
}

func (e *CommitError) Error() string {
	for t, ps := range e.Failed {
		for p, err := range ps {
			return fmt.Sprintf("commit %s/%d (and %d more): %v", t, p, e.count()-1, err)
		}
	}
	return "commit failed"
}

func (e *CommitError) count() int {
	n := 0
	for _, ps := range e.Failed {
		n += len(ps)
	}
	return n
}

// Commit writes offsets for the member of sess through the commit client,
// with the session's current member ID and generation. A partition that
// failed is listed in a *CommitError; the caller retries later with the
// then-current offsets (a lost commit only means redelivery).
//
// Commit returns when ctx ends even if sarama has not answered (its calls
// take no context); the request may still be applied then. Commits are
// sent one at a time, in the order they were made. No Commit may start
// once [Group.Close] has been called.
func (g *Group) Commit(ctx context.Context, sess *Session, offsets []Offset) error {
	if len(offsets) == 0 {
		return nil
	}
	return g.onCommitClient(ctx, "commit", func() error { return g.commit(sess, offsets) })
}

// NextDelivered returns where the next record this member would receive
// from a partition can be, given that everything before from was handled
// (see saramax.NextDelivered): past transaction markers and, under
// read_committed, aborted records. A commit of the result is what Kafka's
// tools count as caught up. from may be the [Claim.InitialOffset] of a
// partition without a committed offset; the oldest offset is then looked
// up when consumption starts at the oldest. It runs on the commit client,
// bounded by ctx, but not in turn with commits: it asks the partition's
// leader, which may hang, and must not hold a commit up.
func (g *Group) NextDelivered(ctx context.Context, topic string, partition int32, from int64) (int64, error) {
	next := from
	err := g.untilDone(ctx, "find next offset", func() error {
		var err error
		next, err = saramax.NextDelivered(g.commitClient, topic, partition, from)
		return err
	})
	if err != nil {
		return from, err
	}
	return next, nil
}

// onCommitClient runs fn, a call on the commit client, after the calls
// before it, returning when ctx ends even if sarama has not answered
// (its calls take no context); fn still runs to its end then, and Close
// waits for it.
func (g *Group) onCommitClient(ctx context.Context, what string, fn func() error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
	select {
	case g.commitSlot <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
	return g.untilDone(ctx, what, func() error {
		defer func() { <-g.commitSlot }()
		return fn()
	})
}

// untilDone runs fn, a call on the commit client, on a goroutine Close
// waits for, returning when ctx ends even if sarama has not answered.
func (g *Group) untilDone(ctx context.Context, what string, fn func() error) error {
	result := make(chan error, 1)
	g.commits.Go(func() { result <- fn() })
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
}

func (g *Group) commit(sess *Session, offsets []Offset) error {
	broker, err := g.commitClient.Coordinator(g.group)
	if err != nil {
		return fmt.Errorf("find coordinator: %w", err)
	}
	req := sarama.NewOffsetCommitRequest(g.commitClient.Config(), g.group)
	req.ConsumerGroupGeneration = sess.GenerationID()
	req.ConsumerID = sess.MemberID()
	req.GroupInstanceId = g.instanceID
	for _, o := range offsets {
		req.AddBlock(o.Topic, o.Partition, o.Offset, 0, "")
	}
	resp, err := broker.CommitOffset(req)
	if err != nil {
		// The connection may be broken or the coordinator gone: start over
		// on the next commit.
		_ = broker.Close()
		_ = g.commitClient.RefreshCoordinator(g.group)
		return fmt.Errorf("commit: %w", err)
	}
	failed := map[string]map[int32]error{}
	refresh := false
	for _, o := range offsets {
		var perr error = sarama.ErrIncompleteResponse
		if kerr, ok := resp.Errors[o.Topic][o.Partition]; ok {
			if kerr == sarama.ErrNoError {
				continue
			}
			if kerr == sarama.ErrNotCoordinatorForConsumer || kerr == sarama.ErrConsumerCoordinatorNotAvailable {
				refresh = true
			}
			perr = kerr
		}
		if failed[o.Topic] == nil {
			failed[o.Topic] = map[int32]error{}
		}
		failed[o.Topic][o.Partition] = perr
	}
	if refresh {
		_ = g.commitClient.RefreshCoordinator(g.group)
	}
	if len(failed) > 0 {
		return &CommitError{Failed: failed}
	}
	return nil
}

// Offset position names for [Group.OffsetAt]: sarama's.
const (
	Newest = sarama.OffsetNewest
	Oldest = sarama.OffsetOldest
)

// OffsetAt returns a partition's offset at a time (Unix milliseconds: the
// first offset whose record's timestamp is at or after it, or the end when
// none is), or at [Newest] (the high watermark) or [Oldest] (the log
// start). It runs on the commit client, bounded by ctx, not in turn with
// commits: it asks the partition's leader.
func (g *Group) OffsetAt(ctx context.Context, topic string, partition int32, at int64) (int64, error) {
	var off int64
	err := g.untilDone(ctx, "list offsets", func() error {
		var err error
		off, err = offsetAt(g.commitClient, topic, partition, at)
		return err
	})
	if err != nil {
		// When ctx ended, the call may still be running and write off:
		// only its result on the channel makes off safe to read.
		return -1, err
	}
	return off, nil
}
