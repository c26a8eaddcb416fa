package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopic creates topic with the given partitions and topic configs
// (e.g. "cleanup.policy": "compact"). An existing topic is an error, but on
// external brokers ([EnvBrokers]) a topic of that name this cluster did not
// create is deleted first (a previous test's), and CreateTopic waits until
// every partition has a leader.
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
	if c.kf == nil {
		if err := c.prepareExternalTopic(ctx, topic); err != nil {
			return err
		}
		rt.ReplicationFactor = -1 // the cluster's default.replication.factor
	}
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
	if c.kf != nil {
		return nil
	}
	c.mu.Lock()
	c.created[topic] = true
	c.mu.Unlock()
	// A real cluster answers before every broker knows the topic.
	return c.waitTopic(ctx, topic, func(exists bool, n, ready int) bool {
		return exists && n == int(partitions) && ready == n
	})
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
	// One topic was asked for: the answer has it, or an error for it.
	if len(resp.Topics) == 0 {
		return 0, fmt.Errorf("kafkatest: topic %s: %w", topic, kerr.UnknownTopicOrPartition)
	}
	t := resp.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		return 0, fmt.Errorf("kafkatest: topic %s: %w", topic, err)
	}
	return int32(len(t.Partitions)), nil
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
}

// ReadOption configures [Cluster.ReadTopic].
type ReadOption func(*readConfig)

// ReadCommitted reads with isolation level read_committed: records of
// aborted or still-open transactions are not returned.
func ReadCommitted() ReadOption { return func(r *readConfig) { r.committed = true } }

// ReadIdle is ignored.
//
// Deprecated: ReadTopic used to stop after d without new records; it now
// reads every partition to its end, bounded by its context.
func ReadIdle(d time.Duration) ReadOption { return func(*readConfig) {} }

// ReadTopic returns every record of topic up to its current end (the high
// watermark, or with [ReadCommitted] the last stable offset), ordered by
// partition then offset, with headers. It reads with its own client, so what
// it returns does not depend on the code under test. When ctx ends (by
// default after 60s) before every partition has been read to its end, it
// returns an error naming the partitions still pending.
func (c *Cluster) ReadTopic(ctx context.Context, topic string, opts ...ReadOption) ([]*bulwark.Message, error) {
	var rc readConfig
	for _, o := range opts {
		o(&rc)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	// Read uncommitted, control records included, to the high watermark:
	// every offset below it is then a record the reader sees, so reaching
	// the end is certain. read_committed is applied here (see
	// committedRecords), as a read_committed fetch skips markers and
	// aborted records without saying how far it got.
	ends, err := c.EndOffsets(ctx, topic, false)
	if err != nil {
		return nil, err
	}
	var stable map[int32]int64
	if rc.committed {
		if stable, err = c.EndOffsets(ctx, topic, true); err != nil {
			return nil, err
		}
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
	cl, err := kgo.NewClient(c.kgoOpts(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	byPartition := map[int32][]*kgo.Record{}
	for len(pending) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kafkatest: read %s: %w before reaching the end of %s", topic, ctx.Err(), pendingText(pending, byPartition))
		}
		fetches.EachError(func(_ string, _ int32, ferr error) {
			if !errors.Is(ferr, context.DeadlineExceeded) && err == nil {
				err = ferr
			}
		})
		if err != nil {
			return nil, fmt.Errorf("kafkatest: read %s: %w", topic, err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := pending[r.Partition]
			if !ok || r.Offset >= end {
				return // written after ReadTopic started
			}
			byPartition[r.Partition] = append(byPartition[r.Partition], r)
			if r.Offset >= end-1 {
				delete(pending, r.Partition)
			}
		})
	}
	var out []*bulwark.Message
	for p, recs := range byPartition {
		if rc.committed {
			recs = committedRecords(recs, stable[p])
		}
		for _, r := range recs {
			if !r.Attrs.IsControl() {
				out = append(out, fromRecord(r))
			}
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

// committedRecords is what a read_committed reader sees of one partition's
// records (in offset order): those below the last stable offset that are
// not transactional or whose transaction committed. A transaction's records
// are decided by the next marker of their producer; records below the last
// stable offset all have one, as their transactions have ended.
func committedRecords(recs []*kgo.Record, lastStable int64) []*kgo.Record {
	var out []*kgo.Record
	open := map[int64][]*kgo.Record{} // producer ID -> records awaiting its marker
	for _, r := range recs {
		switch {
		case r.Attrs.IsControl():
			var key kmsg.ControlRecordKey
			if key.ReadFrom(r.Key) == nil && key.Type == kmsg.ControlRecordKeyTypeCommit {
				out = append(out, open[r.ProducerID]...)
			}
			delete(open, r.ProducerID)
		case r.Attrs.IsTransactional():
			open[r.ProducerID] = append(open[r.ProducerID], r)
		default:
			out = append(out, r)
		}
	}
	kept := out[:0]
	for _, r := range out {
		if r.Offset < lastStable {
			kept = append(kept, r)
		}
	}
	return kept
}

// pendingText names the partitions not read to their end, with how far
// the read got: "partitions 0 (at 10 of 12), 3 (at -1 of 5)".
func pendingText(pending map[int32]int64, read map[int32][]*kgo.Record) string {
	parts := make([]int32, 0, len(pending))
	for p := range pending {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var b strings.Builder
	b.WriteString("partitions ")
	for i, p := range parts {
		if i > 0 {
			b.WriteString(", ")
		}
		at := int64(-1)
		if recs := read[p]; len(recs) > 0 {
			at = recs[len(recs)-1].Offset
		}
		fmt.Fprintf(&b, "%d (at %d of %d)", p, at, pending[p])
	}
	return b.String()
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
