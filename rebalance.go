package bulwark

import "context"

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// RebalanceListener is told when a consumer-group member gains and gives up
// partitions (consumer.WithRebalanceListener, eos.WithRebalanceListener).
// Each package documents on which goroutine the calls run and what has
// happened to the partitions' records by then; common to both:
//
//   - Assigned is called before the first record of the partitions is
//     handled.
//   - Revoked is called when the member gave the partitions up cleanly:
//     what it finished of them is committed, and nothing of them is in
//     flight any more. The partitions are not handed on before it returns.
//   - Lost is called instead of Revoked when the member could not give
//     them up cleanly (it was dropped from the group after a session
//     timeout or a lost connection, or its final commit failed): another
//     member may own them already, and records this member handled may be
//     delivered again there.
//
// A call may name several partitions; calls never overlap. The group waits
// for a call to return, so a listener must be quick; its context ends when
// the package stops waiting. [RebalanceFuncs] turns functions into a
// listener.
type RebalanceListener interface {
	Assigned(ctx context.Context, partitions []TopicPartition)
	Revoked(ctx context.Context, partitions []TopicPartition)
	Lost(ctx context.Context, partitions []TopicPartition)
}

// RebalanceFuncs is a [RebalanceListener] made of functions; a nil one is
// not called.
type RebalanceFuncs struct {
	OnAssigned func(ctx context.Context, partitions []TopicPartition)
	OnRevoked  func(ctx context.Context, partitions []TopicPartition)
	OnLost     func(ctx context.Context, partitions []TopicPartition)
}

// Assigned calls f.OnAssigned if set.
func (f RebalanceFuncs) Assigned(ctx context.Context, ps []TopicPartition) {
	if f.OnAssigned != nil {
		f.OnAssigned(ctx, ps)
	}
}

// Revoked calls f.OnRevoked if set.
func (f RebalanceFuncs) Revoked(ctx context.Context, ps []TopicPartition) {
	if f.OnRevoked != nil {
		f.OnRevoked(ctx, ps)
	}
}

// Lost calls f.OnLost if set.
func (f RebalanceFuncs) Lost(ctx context.Context, ps []TopicPartition) {
	if f.OnLost != nil {
		f.OnLost(ctx, ps)
	}
}

// MemberState is what a consumer-group member (consumer.Consumer,
// eos.Session) reports of itself for a health check through its State
// method; each package says how it decides that a partition caught up.
type MemberState struct {
	// Joined: the member is in a group session (generation) now.
	Joined bool
	// Partitions is how many partitions are assigned now,
	// CaughtUpPartitions how many of them have caught up at least once
	// since they were assigned: everything up to where the partition ended
	// at the assignment is finished. Later lag does not undo it.
	Partitions, CaughtUpPartitions int
	// CaughtUp: joined, and every assigned partition caught up (true for a
	// member the group gives no partition: it has nothing to catch up on).
	CaughtUp bool
}
