package saramagroup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
)

// Stable offsets (KIP-447). sarama fetches a new claim's committed offset
// without RequireStable, so a member that joins while the previous owner's
// transaction is committing starts from the offset before it and processes
// its records again. [Group.StableOffsets] asks with RequireStable and
// waits out the pending transaction; [Session.Position] then moves the
// claim there before its first fetch.

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// NoOffset is returned by [Group.StableOffsets] for a partition without a
// committed offset.
const NoOffset int64 = -1

// unstableBackoff is the pause between OffsetFetch retries while a
// transaction holding offsets of the group is pending.
const unstableBackoff = 20 * time.Millisecond

// coordinatorBackoff paces OffsetFetch retries while the group's
// coordinator cannot be reached: from twice unstableBackoff, doubling, up
// to a second. An UNSTABLE answer instead waits the fixed unstableBackoff:
// a pending transaction is normal and the offsets are stable the moment
// it ends, so that poll does not grow.
var coordinatorBackoff = backoff.Policy{Initial: 2 * unstableBackoff, Max: time.Second, Jitter: backoff.None}

// StableOffsets fetches the committed offsets of parts with RequireStable:
// while a transaction that commits offsets for the group is pending, the
// broker answers UNSTABLE_OFFSET_COMMIT and it asks again, so the result
// never predates a transaction that is about to commit. It returns when
// every partition is stable, or with ctx's error. onUnstable, if set, is
// called on each UNSTABLE answer. It runs on the commit client, not in
// turn with commits.
func (g *Group) StableOffsets(ctx context.Context, parts []TopicPartition, onUnstable func()) (map[TopicPartition]int64, error) {
	out := make(map[TopicPartition]int64, len(parts))
	if len(parts) == 0 {
		return out, nil
	}
	byTopic := map[string][]int32{}
	for _, tp := range parts {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	failures := 0 // coordinator failures since the last answer
	for {
		var got map[TopicPartition]int64
		err := g.untilDone(ctx, "fetch stable offsets", func() error {
			var err error
			got, err = fetchStable(g.commitClient, g.group, byTopic)
			return err
		})
		if err == nil {
			return got, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("stable offsets of group %s: %w", g.group, err)
		}
		wait := unstableBackoff
		if IsUnstable(err) {
			if onUnstable != nil {
				onUnstable()
			}
			failures = 0
		} else {
			// Coordinator moved or unreachable: find it again, back off more.
			_ = g.commitClient.RefreshCoordinator(g.group)
			failures++
			wait = coordinatorBackoff.Delay(failures)
		}
		if serr := (clock.Wall{}).Sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("stable offsets of group %s: %w (last error: %v)", g.group, serr, err)
		}
	}
}

// IsUnstable reports whether err says offsets of a pending transaction
// are not settled yet (UNSTABLE_OFFSET_COMMIT): sarama's own offset fetch
// for a new claim under read_committed can fail with it, too. Safe to
// retry soon.
func IsUnstable(err error) bool { return errors.Is(err, sarama.ErrUnstableOffsetCommit) }

func fetchStable(client sarama.Client, group string, byTopic map[string][]int32) (map[TopicPartition]int64, error) {
	coord, err := client.Coordinator(group)
	if err != nil {
		return nil, err
	}
	req := sarama.NewOffsetFetchRequest(client.Config().Version, group, byTopic)
	req.RequireStable = true
	resp, err := coord.FetchOffset(req)
	if err != nil {
		_ = coord.Close()
		return nil, err
	}
	if kerr := resp.GroupError(); kerr != sarama.ErrNoError {
		return nil, kerr
	}
	out := map[TopicPartition]int64{}
	for topic, ps := range byTopic {
		for _, p := range ps {
			b := resp.GetBlock(topic, p)
			if b == nil {
				return nil, fmt.Errorf("offset fetch: no answer for %s/%d", topic, p)
			}
			if b.Err != sarama.ErrNoError {
				return nil, b.Err
			}
			out[TopicPartition{topic, p}] = max(b.Offset, NoOffset)
		}
	}
	return out, nil
}

// Claims lists the session's partitions as assigned at its start (with
// the eager protocol, all it will have).
func (s *Session) Claims() []TopicPartition {
	var parts []TopicPartition
	for topic, ps := range s.s.Claims() {
		for _, p := range ps {
			parts = append(parts, TopicPartition{topic, p})
		}
	}
	return parts
}

// Position makes a claimed partition start at off ([NoOffset]: the
// configured initial offset) instead of the offset sarama fetched. Call
// it in Setup, before the claim's first fetch.
func (s *Session) Position(tp TopicPartition, off int64) {
	// MarkOffset only moves forward and ResetOffset only backward;
	// together they set exactly off. With auto-commit disabled neither
	// is ever committed by sarama.
	s.s.MarkOffset(tp.Topic, tp.Partition, off, "")
	s.s.ResetOffset(tp.Topic, tp.Partition, off, "")
}

// GroupMeta is the member's identity in one generation, sent with
// transactional offsets so that the coordinator fences a stale member
// (KIP-447).
type GroupMeta struct {
	Group      string
	Generation int32
	MemberID   string
	InstanceID string // "" without static membership
}
