package saramax

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
)

// ErrNoProgress is returned by [ReadRange] when a fetch below the end it
// was asked to reach returns no record batch: the partition was truncated
// or its leader lags behind what it reported.
var ErrNoProgress = errors.New("fetch returned nothing below the requested end")

// Tail reads bounded ranges of partitions, for callers outside the sarama
// layer that check what landed in a partition after a known position (the
// outbox relay's reconcile). It reads uncommitted, with plain fetches.
type Tail struct {
	client  sarama.Client
	aborter *Aborter
}

// ConnectTail connects to brokers with s, bounded by ctx and
// s.ConnectTimeout (see [Connect]).
func ConnectTail(ctx context.Context, brokers []string, s conn.Settings) (*Tail, error) {
	cfg, err := NewConfig(s)
	if err != nil {
		return nil, err
	}
	cfg.Consumer.IsolationLevel = sarama.ReadUncommitted
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	aborter := MakeAbortable(cfg)
	client, err := Connect(ctx, brokers, cfg, s, func(c *sarama.Config) (sarama.Client, error) {
		return sarama.NewClient(brokers, c)
	}, func(c sarama.Client) { _ = c.Close() })
	if err != nil {
		return nil, err
	}
	return &Tail{client: client, aborter: aborter}, nil
}

// Partitions returns topic's partitions; a topic that does not exist has
// none (IsUnknownTopic errors are not returned).
func (t *Tail) Partitions(topic string) ([]int32, error) {
	if err := t.client.RefreshMetadata(topic); err != nil && !IsUnknownTopic(err) {
		return nil, err
	}
	ps, err := t.client.Partitions(topic)
	if IsUnknownTopic(err) {
		return nil, nil
	}
	return ps, err
}

// Offsets returns the first offset of topic/partition and its end (the
// high watermark).
func (t *Tail) Offsets(topic string, partition int32) (oldest, end int64, err error) {
	if oldest, err = t.client.GetOffset(topic, partition, sarama.OffsetOldest); err != nil {
		return 0, 0, err
	}
	if end, err = t.client.GetOffset(topic, partition, sarama.OffsetNewest); err != nil {
		return 0, 0, err
	}
	return oldest, end, nil
}

// Read is [ReadRange] over t's connections.
func (t *Tail) Read(ctx context.Context, topic string, partition int32, from, to int64, fn func(*bulwark.Message)) (int, error) {
	return ReadRange(ctx, t.client, topic, partition, from, to, fn)
}

// Abort cuts t's connections and refuses new ones: a call in progress
// returns (sarama's calls take no context), and later ones fail. For a
// caller whose context ended; Close it afterwards.
func (t *Tail) Abort() { t.aborter.Abort() }

// Close disconnects.
func (t *Tail) Close() error { return t.client.Close() }

// ReadRange calls fn with every record of topic/partition at offsets in
// [from, to), in offset order, and returns how many it read. It reads with
// plain fetches over client's connections (client's isolation level; no
// consumer, no group), the way [NextDelivered] probes: transaction markers
// are skipped, and under read_uncommitted so is nothing else. It reads
// only that range, whatever the partition holds before or after, so a
// caller checking what landed after a known position (the outbox relay's
// reconcile) pays for that range alone. to is normally an end offset the
// caller just listed (client.GetOffset with sarama.OffsetNewest).
//
// ctx is checked between fetches; one fetch does not wait for new records
// (MaxWaitTime 0) and is bounded by client's read timeout.
func ReadRange(ctx context.Context, client sarama.Client, topic string, partition int32, from, to int64, fn func(*bulwark.Message)) (int, error) {
	read := 0
	for next := from; next < to; {
		if err := ctx.Err(); err != nil {
			return read, err
		}
		block, err := probeFetch(client, topic, partition, next)
		if err != nil {
			return read, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, next, err)
		}
		advanced := next
		for _, recs := range block.RecordsSet {
			if recs == nil || recs.RecordBatch == nil || recs.RecordBatch.PartialTrailingRecord {
				continue
			}
			b := recs.RecordBatch
			last := b.FirstOffset + int64(b.LastOffsetDelta)
			if last < next {
				continue
			}
			if !b.Control {
				for _, r := range b.Records {
					off := b.FirstOffset + r.OffsetDelta
					if off < next || off >= to {
						continue
					}
					fn(recordMessage(topic, partition, off, b, r))
					read++
				}
			}
			advanced = last + 1
		}
		if advanced <= next {
			return read, fmt.Errorf("read %s/%d at %d (end %d): %w", topic, partition, next, to, ErrNoProgress)
		}
		next = advanced
	}
	return read, nil
}

func recordMessage(topic string, partition int32, offset int64, b *sarama.RecordBatch, r *sarama.Record) *bulwark.Message {
	m := &bulwark.Message{
		Topic: topic, Partition: partition, Offset: offset,
		Key: r.Key, Value: r.Value,
		Timestamp: b.FirstTimestamp.Add(r.TimestampDelta),
	}
	if len(r.Headers) > 0 {
		m.Headers = make([]bulwark.Header, 0, len(r.Headers))
		for _, h := range r.Headers {
			if h != nil {
				m.Headers = append(m.Headers, bulwark.Header{Key: string(h.Key), Value: h.Value})
			}
		}
	}
	return m
}
