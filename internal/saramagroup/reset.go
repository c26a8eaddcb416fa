package saramagroup

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// ErrGroupActive is returned by [ResetOffsets] when the group has members:
// their commits would overwrite the reset, so only a stopped group is
// reset.
var ErrGroupActive = errors.New("group has live members")

// Target is where [ResetOffsets] puts each partition: At (Unix
// milliseconds, [Newest] or [Oldest]) for every partition, or, when
// Offsets is not nil, the offsets it names (the others are left alone),
// each kept within the partition's oldest and newest offset.
type Target struct {
	At      int64
	Offsets map[int32]int64
}

// ResetOffsets commits, for a group without members, the offsets of
// topic's partitions that target names, and returns them. It fails with
// an error matching ErrGroupActive (saying how many members) when the
// group has members, also when one joins before the commit (the broker
// then refuses it). Every call is bounded by ctx: on its end the
// connections are cut.
func ResetOffsets(ctx context.Context, brokers []string, group, topic string, target Target, s conn.Settings) (map[int32]int64, error) {
	cfg, err := saramax.NewConfig(s)
	if err != nil {
		return nil, err
	}
	cut := *cfg
	aborter := saramax.MakeAbortable(&cut)
	client, err := saramax.Connect(ctx, brokers, &cut, s,
		func(c *sarama.Config) (sarama.Client, error) { return sarama.NewClient(brokers, c) },
		func(c sarama.Client) { _ = c.Close() })
	if err != nil {
		return nil, err
	}
	defer func() { _ = client.Close() }()
	type result struct {
		offs map[int32]int64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		offs, err := reset(client, group, topic, target)
		done <- result{offs, err}
	}()
	select {
	case r := <-done:
		return r.offs, r.err
	case <-ctx.Done():
		aborter.Abort() // sarama's calls return at once without connections
		<-done
		return nil, fmt.Errorf("reset offsets of group %s: %w", group, context.Cause(ctx))
	}
}

func reset(client sarama.Client, group, topic string, target Target) (map[int32]int64, error) {
	coord, err := client.Coordinator(group)
	if err != nil {
		return nil, fmt.Errorf("find coordinator of group %s: %w", group, err)
	}
	desc, err := coord.DescribeGroups(&sarama.DescribeGroupsRequest{Groups: []string{group}})
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, err)
	}
	for _, g := range desc.Groups {
		if g.GroupId == group && len(g.Members) > 0 {
			return nil, fmt.Errorf("%w: group %s has %d (state %s)", ErrGroupActive, group, len(g.Members), g.State)
		}
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	offs := map[int32]int64{}
	for _, p := range parts {
		var off int64
		if target.Offsets != nil {
			want, ok := target.Offsets[p]
			if !ok {
				continue
			}
			if off, err = clamp(client, topic, p, want); err != nil {
				return nil, err
			}
		} else if off, err = offsetAt(client, topic, p, target.At); err != nil {
			return nil, err
		}
		offs[p] = off
	}
	req := sarama.NewOffsetCommitRequest(client.Config(), group)
	// No member, no generation: how Kafka's own tools commit for an
	// empty group; the broker refuses it while the group has members.
	req.ConsumerGroupGeneration = -1
	for p, off := range offs {
		req.AddBlock(topic, p, off, 0, "")
	}
	resp, err := coord.CommitOffset(req)
	if err != nil {
		return nil, fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	for p, kerr := range resp.Errors[topic] {
		switch {
		case kerr == sarama.ErrNoError:
		case errors.Is(kerr, sarama.ErrUnknownMemberId), errors.Is(kerr, sarama.ErrIllegalGeneration),
			errors.Is(kerr, sarama.ErrRebalanceInProgress):
			return nil, fmt.Errorf("%w: group %s got a member meanwhile: %w", ErrGroupActive, group, kerr)
		default:
			return nil, fmt.Errorf("commit offset of %s/%d for group %s: %w", topic, p, group, kerr)
		}
	}
	return offs, nil
}

// offsetAt is [Group.OffsetAt] on client.
func offsetAt(client sarama.Client, topic string, partition int32, at int64) (int64, error) {
	off, err := client.GetOffset(topic, partition, at)
	if err == nil && at >= 0 && off < 0 {
		// No record at or after the time: the end.
		off, err = client.GetOffset(topic, partition, sarama.OffsetNewest)
	}
	if err != nil {
		return 0, fmt.Errorf("list offsets of %s/%d: %w", topic, partition, err)
	}
	return off, nil
}

// clamp keeps off within the partition's oldest and newest offsets.
func clamp(client sarama.Client, topic string, partition int32, off int64) (int64, error) {
	oldest, err := offsetAt(client, topic, partition, sarama.OffsetOldest)
	if err != nil {
		return 0, err
	}
	newest, err := offsetAt(client, topic, partition, sarama.OffsetNewest)
	if err != nil {
		return 0, err
	}
	return min(max(off, oldest), newest), nil
}
