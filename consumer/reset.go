package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramagroup"
)

// Position is where [ResetOffsets] puts a group's partitions; make one
// with [ToTimestamp], [ToOffsets], [ToEarliest] or [ToLatest].
type Position struct {
	target saramagroup.Target
	set    bool
}

// ToTimestamp is the first record whose timestamp is at or after t (the
// end of the partition when there is none): consuming from there replays
// everything written since t.
func ToTimestamp(t time.Time) Position {
	return Position{target: saramagroup.Target{At: max(t.UnixMilli(), 0)}, set: true}
}

// ToOffsets is the given offset of each partition named (partition ->
// next offset to consume); partitions not named keep their committed
// offset. An offset beyond a partition's oldest or newest is moved to it.
func ToOffsets(offsets map[int32]int64) Position {
	m := make(map[int32]int64, len(offsets))
	for p, o := range offsets {
		m[p] = o
	}
	return Position{target: saramagroup.Target{Offsets: m}, set: true}
}

// ToEarliest is the oldest record still in each partition.
func ToEarliest() Position {
	return Position{target: saramagroup.Target{At: saramagroup.Oldest}, set: true}
}

// ToLatest is the end of each partition: what is there now is skipped.
func ToLatest() Position {
	return Position{target: saramagroup.Target{At: saramagroup.Newest}, set: true}
}

// ErrGroupActive is matched by the *GroupActiveError of [ResetOffsets].
var ErrGroupActive = errors.New("consumer: group has live members")

// GroupActiveError says that [ResetOffsets] refused a group with
// members: a running member would overwrite the reset with its next
// commit. Stop every member (Run returned) and wait for the group to be
// empty (a crashed member counts until its session timeout).
type GroupActiveError struct {
	Group string
	Err   error // what the broker said
}

func (e *GroupActiveError) Error() string {
	return fmt.Sprintf("consumer: cannot reset the offsets of group %s: %v", e.Group, e.Err)
}

// Unwrap returns [ErrGroupActive] and the broker's answer.
func (e *GroupActiveError) Unwrap() []error { return []error{ErrGroupActive, e.Err} }

// ResetOffsets commits new offsets of topic's partitions for a stopped
// group, for a replay (or a skip): the group's next members start there.
// It returns the offsets committed, by partition. It fails with a
// *GroupActiveError when the group has members, and with a
// *conn.ConnectError when the cluster cannot be reached in time; every
// step is bounded by ctx. Connection options as for [WithConnection].
//
// To position a partition of a running group when it is assigned without
// a committed offset, see [WithStartAt].
func ResetOffsets(ctx context.Context, brokers []string, group, topic string, to Position, opts ...conn.Option) (map[int32]int64, error) {
	switch {
	case group == "" || topic == "":
		return nil, fmt.Errorf("%w: reset offsets needs a group and a topic", ErrInvalidConfig)
	case !to.set:
		return nil, fmt.Errorf("%w: reset offsets needs a position (ToTimestamp, ToOffsets, ToEarliest, ToLatest)", ErrInvalidConfig)
	}
	if err := conn.CheckBrokers(brokers); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cs, err := conn.Build(opts...)
	if err != nil {
		return nil, err
	}
	offs, err := saramagroup.ResetOffsets(ctx, brokers, group, topic, to.target, cs)
	if errors.Is(err, saramagroup.ErrGroupActive) {
		return nil, &GroupActiveError{Group: group, Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("consumer: reset offsets: %w", err)
	}
	return offs, nil
}
