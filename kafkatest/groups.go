package kafkatest

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CommittedOffsets returns the group's committed offsets for topic, by
// partition (partitions without a commit are absent). It asks for stable
// offsets, waiting while a transaction that commits offsets is pending.
func (c *Cluster) CommittedOffsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	n, err := c.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	for {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = group
		req.RequireStable = true
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic = topic
		for p := int32(0); p < n; p++ {
			rt.Partitions = append(rt.Partitions, p)
		}
		req.Topics = append(req.Topics, rt)
		// v8+ carries groups in a list; fill both shapes, the broker's
		// version picks one.
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = topic, rt.Partitions
		rg.Topics = append(rg.Topics, gt)
		req.Groups = append(req.Groups, rg)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, err
		}
		unstable := false
		out := map[int32]int64{}
		topErr := kerr.ErrorForCode(resp.ErrorCode)
		if topErr == kerr.GroupIDNotFound {
			return out, nil
		}
		if topErr == kerr.UnstableOffsetCommit {
			unstable = true
		} else if topErr != nil {
			return nil, fmt.Errorf("kafkatest: committed offsets of %s: %w", group, topErr)
		}
		type partOffset struct {
			Partition int32
			Offset    int64
			ErrorCode int16
		}
		var parts []partOffset
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, partOffset{p.Partition, p.Offset, p.ErrorCode})
			}
		}
		for _, g := range resp.Groups {
			if err := kerr.ErrorForCode(g.ErrorCode); err == kerr.UnstableOffsetCommit {
				unstable = true
			} else if err != nil && err != kerr.GroupIDNotFound {
				return nil, fmt.Errorf("kafkatest: committed offsets of %s: %w", group, err)
			}
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					parts = append(parts, partOffset{p.Partition, p.Offset, p.ErrorCode})
				}
			}
		}
		{
			for _, p := range parts {
				switch err := kerr.ErrorForCode(p.ErrorCode); err {
				case nil:
					if p.Offset >= 0 {
						out[p.Partition] = p.Offset
					}
				case kerr.UnstableOffsetCommit:
					unstable = true
				default:
					return nil, fmt.Errorf("kafkatest: committed offset of %s %s/%d: %w", group, topic, p.Partition, err)
				}
			}
		}
		if !unstable {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kafkatest: committed offsets of %s: %w (offsets still unstable)", group, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
