package kafkatest

import (
	"context"
	"fmt"
	"maps"
	"time"
)

// WaitCaughtUp waits until group has committed every partition of topic
// at its high watermark, where Kafka's tools show a lag of 0, and returns
// the offsets. It fails when ctx ends first, telling both sides.
func (c *Cluster) WaitCaughtUp(ctx context.Context, group, topic string) (map[int32]int64, error) {
	var ends, got map[int32]int64
	var err error
	for {
		if ends, err = c.EndOffsets(ctx, topic, false); err != nil {
			return nil, err
		}
		if got, err = c.CommittedOffsets(ctx, group, topic); err != nil {
			return nil, err
		}
		if maps.Equal(got, ends) {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kafkatest: group %s not caught up on %s: committed %v, end offsets %v: %w", group, topic, got, ends, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
