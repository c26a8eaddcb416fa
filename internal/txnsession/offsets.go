package txnsession

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// NoOffset is returned by StableOffsets for a partition without a committed
// offset.
const NoOffset int64 = -1

// unstableBackoff is the pause between OffsetFetch retries while a
// transaction holding offsets of the group is pending.
const unstableBackoff = 20 * time.Millisecond

// stableOffsets fetches the committed offsets of parts with RequireStable:
// while a transaction that commits offsets for the group is pending, the
// broker answers UNSTABLE_OFFSET_COMMIT and we ask again, so the result
// never predates a transaction that is about to commit. It returns when
// every partition is stable, or with ctx's error. onUnstable, if set, is
// called on each UNSTABLE answer.
func stableOffsets(ctx context.Context, client sarama.Client, group string, parts []TopicPartition, onUnstable func()) (map[TopicPartition]int64, error) {
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
		err := fetchStable(client, group, byTopic, out)
		if err == nil {
			return out, nil
		}
		wait := unstableBackoff
		if errors.Is(err, sarama.ErrUnstableOffsetCommit) {
			if onUnstable != nil {
				onUnstable()
			}
			failures = 0
		} else {
			// Coordinator moved or unreachable: find it again, back off more.
			_ = client.RefreshCoordinator(group)
			failures++
			wait = coordinatorBackoff.Delay(failures)
		}
		if serr := (clock.Wall{}).Sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("stable offsets of group %s: %w (last error: %v)", group, serr, err)
		}
	}
}

// coordinatorBackoff paces OffsetFetch retries while the group's
// coordinator cannot be reached: from twice unstableBackoff, doubling, up
// to a second. An UNSTABLE answer instead waits the fixed unstableBackoff:
// a pending transaction is normal and the offsets are stable the moment
// it ends, so that poll does not grow.
var coordinatorBackoff = backoff.Policy{Initial: 2 * unstableBackoff, Max: time.Second, Jitter: backoff.None}

func fetchStable(client sarama.Client, group string, byTopic map[string][]int32, out map[TopicPartition]int64) error {
	coord, err := client.Coordinator(group)
	if err != nil {
		return err
	}
	req := sarama.NewOffsetFetchRequest(client.Config().Version, group, byTopic)
	req.RequireStable = true
	resp, err := coord.FetchOffset(req)
	if err != nil {
		_ = coord.Close()
		return err
	}
	if kerr := resp.GroupError(); kerr != sarama.ErrNoError {
		return kerr
	}
	for topic, ps := range byTopic {
		for _, p := range ps {
			b := resp.GetBlock(topic, p)
			if b == nil {
				return fmt.Errorf("offset fetch: no answer for %s/%d", topic, p)
			}
			if b.Err != sarama.ErrNoError {
				return b.Err
			}
			off := b.Offset
			if off < 0 {
				off = NoOffset
			}
			out[TopicPartition{topic, p}] = off
		}
	}
	return nil
}
