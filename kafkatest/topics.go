package kafkatest

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopic creates topic with the given partitions and topic configs
// (e.g. "cleanup.policy": "compact"). An existing topic is an error.
func (c *Cluster) CreateTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cl, err := c.client()
	if err != nil {
		return err
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = topic
	rt.NumPartitions = partitions
	rt.ReplicationFactor = 1
	for k, v := range configs {
		rc := kmsg.NewCreateTopicsRequestTopicConfig()
		rc.Name, rc.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, rc)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("kafkatest: create topic %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("kafkatest: create topic %s: %w", topic, err)
		}
	}
	return nil
}

// Partitions returns the partition count of topic.
func (c *Cluster) Partitions(ctx context.Context, topic string) (int32, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cl, err := c.client()
	if err != nil {
		return 0, err
	}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return 0, fmt.Errorf("kafkatest: topic %s: %w", topic, err)
		}
		return int32(len(t.Partitions)), nil
	}
	return 0, fmt.Errorf("kafkatest: topic %s: %w", topic, kerr.UnknownTopicOrPartition)
}

// EndOffsets returns, per partition, the offset after the last record:
// the high watermark, or with readCommitted the last stable offset.
func (c *Cluster) EndOffsets(ctx context.Context, topic string, readCommitted bool) (map[int32]int64, error) {
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
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	if readCommitted {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < n; p++ {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1 // latest
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	// kgo splits the request by partition leader and merges the answers.
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	ends := make(map[int32]int64, n)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("kafkatest: end offset of %s/%d: %w", topic, p.Partition, err)
			}
			ends[p.Partition] = p.Offset
		}
	}
	return ends, nil
}

type readConfig struct {
	committed bool
	idle      time.Duration
}

// ReadOption configures [Cluster.ReadTopic].
type ReadOption func(*readConfig)

// ReadCommitted reads with isolation level read_committed: records of
// aborted or still-open transactions are not returned.
func ReadCommitted() ReadOption { return func(r *readConfig) { r.committed = true } }

// ReadIdle sets how long ReadTopic waits for more records, once it has
// none left to expect, before it decides the rest are transaction markers
// or aborted records (default 500ms).
func ReadIdle(d time.Duration) ReadOption { return func(r *readConfig) { r.idle = d } }

// ReadTopic returns every record of topic up to its current end, ordered by
// partition then offset, with headers. It reads with its own client, so what
// it returns does not depend on the code under test.
func (c *Cluster) ReadTopic(ctx context.Context, topic string, opts ...ReadOption) ([]*bulwark.Message, error) {
	rc := readConfig{idle: 500 * time.Millisecond}
	for _, o := range opts {
		o(&rc)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	ends, err := c.EndOffsets(ctx, topic, rc.committed)
	if err != nil {
		return nil, err
	}
	pending := map[int32]int64{} // partition -> end offset not yet reached
	assign := map[int32]kgo.Offset{}
	for p, end := range ends {
		if end > 0 {
			pending[p] = end
			assign[p] = kgo.NewOffset().AtStart()
		}
	}
	if len(pending) == 0 {
		return nil, nil
	}
	level := kgo.ReadUncommitted()
	if rc.committed {
		level = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(c.kgoOpts(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
		kgo.FetchIsolationLevel(level),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	var out []*bulwark.Message
	for len(pending) > 0 {
		pollCtx, pollCancel := context.WithTimeout(ctx, rc.idle)
		fetches := cl.PollFetches(pollCtx)
		pollCancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kafkatest: read %s: %w (still waiting for %v)", topic, ctx.Err(), pending)
		}
		got := 0
		fetches.EachError(func(_ string, _ int32, ferr error) {
			if ferr != context.DeadlineExceeded && err == nil {
				err = ferr
			}
		})
		if err != nil {
			return nil, fmt.Errorf("kafkatest: read %s: %w", topic, err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			got++
			out = append(out, fromRecord(r))
			if end, ok := pending[r.Partition]; ok && r.Offset >= end-1 {
				delete(pending, r.Partition)
			}
		})
		// Nothing new within the idle time: what is left before the end
		// offsets is transaction markers or aborted records.
		if got == 0 {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

func fromRecord(r *kgo.Record) *bulwark.Message {
	m := &bulwark.Message{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: r.Timestamp,
	}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, bulwark.Header{Key: h.Key, Value: h.Value})
	}
	return m
}
