package saramax

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"go.opentelemetry.io/otel/metric"
)

// Goroutines: sarama's own (the client's; the consumer's, one set per
// partition followed) end with Reader.Close and Follower.Close. Follow
// starts one per Follower that drains sarama's error channel into
// onError; it ends when Follower.Close has closed that channel. Read runs
// on its caller's goroutine.

// Reader reads partitions for packages outside the sarama layer (table,
// outbox), keeping sarama's types out of them. It does two jobs that share
// its connections, configuration and offset lookups but not their reading:
//
//   - [Reader.Follow] reads a partition from a position on, for as long as
//     the caller wants (a table's restore, then its updates). It uses
//     sarama's partition consumer: fetches prefetched and pipelined, long
//     polls while idle, leader moves followed.
//   - [Reader.Read] reads a bounded range [from, to) and returns (the
//     outbox's reconcile). Plain fetches that do not wait: the consumer
//     would prefetch past to and long-poll at the end, and reading a range
//     needs neither.
//
// Its methods are safe for concurrent use.
type Reader struct {
	client    sarama.Client
	consumer  sarama.Consumer
	aborter   *Aborter
	committed bool
	// stopMetrics ends the reporting of the client's broker figures.
	stopMetrics func()
}

// ReaderConfig is how a Reader reads.
type ReaderConfig struct {
	// ReadCommitted reads with read_committed isolation: records of
	// aborted transactions are skipped, and reads stop at the last stable
	// offset. Otherwise read_uncommitted.
	ReadCommitted bool
	// Tweak, the user's escape hatch, edits the configuration after the
	// reader's own settings and before it is validated. May be nil.
	Tweak func(*sarama.Config)
	// MeterProvider receives the client's broker figures (see
	// [BridgeMetrics]); nil: the otel global.
	MeterProvider metric.MeterProvider
}

// followFetchDefault is the bytes Follow asks per partition and fetch:
// larger than sarama's 1 MiB default, as a restore reads whole partitions.
const followFetchDefault = 4 << 20

// ConnectReader connects to brokers with s and rc, bounded by ctx and
// s.ConnectTimeout (see [Connect]).
func ConnectReader(ctx context.Context, brokers []string, s conn.Settings, rc ReaderConfig) (*Reader, error) {
	cfg, err := NewConfig(s)
	if err != nil {
		return nil, err
	}
	cfg.Consumer.IsolationLevel = sarama.ReadUncommitted
	if rc.ReadCommitted {
		cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	// Follow drains the errors; sarama only logs them otherwise.
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Fetch.Default = followFetchDefault
	// A reader never creates a topic, not even the one it follows when it
	// is deleted (sarama's metadata requests allow it by default).
	cfg.Metadata.AllowAutoTopicCreation = false
	if rc.Tweak != nil {
		rc.Tweak(cfg)
	}
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	// Our own aborter, beside the one Connect adds while connecting: Abort
	// and Close cut every connection, so that nothing sarama does (a fetch
	// to a hung broker, a redispatch) waits for a timeout.
	aborter := MakeAbortable(cfg)
	client, err := Connect(ctx, brokers, cfg, s,
		func(cut *sarama.Config) (sarama.Client, error) { return sarama.NewClient(brokers, cut) },
		func(c sarama.Client) { _ = c.Close() })
	if err != nil {
		return nil, err
	}
	// No network: the consumer connects when Follow first needs it.
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	stopMetrics, err := BridgeMetrics(client, brokers, rc.MeterProvider)
	if err != nil {
		_ = consumer.Close()
		_ = client.Close()
		return nil, err
	}
	return &Reader{client: client, consumer: consumer, aborter: aborter, stopMetrics: stopMetrics,
		committed: cfg.Consumer.IsolationLevel == sarama.ReadCommitted}, nil
}

// Partitions returns topic's partitions as the cluster has them now; a
// topic that does not exist has none. It asks first with one metadata
// request that creates nothing ([MissingTopics]): sarama's own refresh of
// a missing topic retries with backoff before it says so.
//
// sarama's metadata calls take no context: when ctx ends first, the
// reader's connections are cut (for good: Close it) and the error is a
// *conn.ConnectError (ErrUnreachable) that also matches ctx's error.
func (r *Reader) Partitions(ctx context.Context, topic string) (parts []int32, err error) {
	stop := context.AfterFunc(ctx, r.aborter.Abort)
	defer func() {
		if !stop() { // ctx ended: the cut may be under way
			parts, err = nil, gaveUp("the context ended before the topic's metadata was read", context.Cause(ctx), err)
		}
	}()
	missing, err := MissingTopics(r.client, []string{topic})
	if err != nil || len(missing) > 0 {
		return nil, err
	}
	if err := r.client.RefreshMetadata(topic); err != nil && !IsUnknownTopic(err) {
		return nil, err
	}
	parts, err = r.client.Partitions(topic)
	if IsUnknownTopic(err) { // deleted meanwhile
		return nil, nil
	}
	return parts, err
}

// Offsets returns the first offset of topic/partition and its end (the
// high watermark: the offset after the last record written, committed or
// not).
func (r *Reader) Offsets(topic string, partition int32) (oldest, end int64, err error) {
	if oldest, err = r.client.GetOffset(topic, partition, sarama.OffsetOldest); err != nil {
		return 0, 0, err
	}
	if end, err = r.client.GetOffset(topic, partition, sarama.OffsetNewest); err != nil {
		return 0, 0, err
	}
	return oldest, end, nil
}

// NextDelivered is [NextDelivered] over r's connections: the first offset
// at or after from holding a record r delivers, or else the end of what
// it can read.
func (r *Reader) NextDelivered(topic string, partition int32, from int64) (int64, error) {
	return NextDelivered(r.client, topic, partition, from)
}

// ErrNoProgress is returned by [Reader.Read] when a fetch below the end it
// was asked to reach returns no record batch: the partition was truncated
// or its leader lags behind what it reported.
var ErrNoProgress = errors.New("fetch returned nothing below the requested end")

// Read calls fn with every record of topic/partition at offsets in
// [from, to) that r delivers, in offset order, and returns how many it
// read. Transaction markers are skipped, and under read_committed so are
// aborted records. It reads only that range, whatever the partition holds
// before or after, so a caller checking what landed after a known position
// pays for that range alone. to is normally an end the caller just listed
// ([Reader.Offsets]); under read_committed it must not pass the last
// stable offset, or the read fails with [ErrNoProgress].
//
// ctx is checked between fetches; one fetch does not wait for new records
// (MaxWaitTime 0) and is bounded by the read timeout.
func (r *Reader) Read(ctx context.Context, topic string, partition int32, from, to int64, fn func(*bulwark.Message)) (int, error) {
	read := 0
	for next := from; next < to; {
		if err := ctx.Err(); err != nil {
			return read, err
		}
		block, err := probeFetch(r.client, topic, partition, next)
		if err != nil {
			return read, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, next, err)
		}
		advanced := next
		for b, delivered := range batches(block, next, r.committed) {
			if b == nil {
				continue // a legacy message set: not read
			}
			if delivered {
				for _, rec := range b.Records {
					off := b.FirstOffset + rec.OffsetDelta
					if off < next || off >= to {
						continue
					}
					fn(recordMessage(topic, partition, off, b, rec))
					read++
				}
			}
			advanced = b.FirstOffset + int64(b.LastOffsetDelta) + 1
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

// OffsetOldest is the position that follows a partition from its first
// record.
const OffsetOldest = sarama.OffsetOldest

// Follow starts reading topic/partition at from (an offset, or
// [OffsetOldest]). A from below the partition's first offset (records
// deleted meanwhile) starts at the first one: sarama's consumer refuses it
// (offset out of range) instead. onError gets the errors sarama reports
// while reading and retries itself; it runs on a goroutine of the returned
// Follower, which ends when the Follower is closed.
func (r *Reader) Follow(topic string, partition int32, from int64, onError func(error)) (*Follower, error) {
	pc, err := r.consumer.ConsumePartition(topic, partition, from)
	if errors.Is(err, sarama.ErrOffsetOutOfRange) && from != OffsetOldest {
		oldest, oerr := r.client.GetOffset(topic, partition, sarama.OffsetOldest)
		if oerr != nil {
			return nil, oerr
		}
		if from < oldest {
			pc, err = r.consumer.ConsumePartition(topic, partition, oldest)
		}
	}
	if err != nil {
		return nil, err
	}
	f := &Follower{pc: pc, errorsDone: make(chan struct{})}
	go func() {
		defer close(f.errorsDone)
		for err := range pc.Errors() {
			onError(err)
		}
	}()
	return f, nil
}

// Abort cuts every connection and refuses new ones: sarama calls in
// progress fail at once (they take no context), partitions followed stop
// receiving records, and later calls fail. For a caller whose context
// ended; Close it afterwards. Idempotent.
func (r *Reader) Abort() { r.aborter.Abort() }

// Close cuts every connection, then closes the consumer and the client:
// a reader has nothing to flush, and cut connections make sarama's own
// shutdown fast whatever state the brokers are in. Call it once, after
// every Follower is closed.
func (r *Reader) Close() {
	r.aborter.Abort()
	_ = r.consumer.Close()
	_ = r.client.Close()
	r.stopMetrics()
}

// Follower is one partition being followed, by one goroutine at a time.
type Follower struct {
	pc         sarama.PartitionConsumer
	errorsDone chan struct{}
}

// Record is what a follower delivers of a record. Key and Value are slices
// of sarama's fetch buffer (a nil Value is a tombstone): copy what is
// kept, and clear the records once done, or they keep a whole fetch
// response alive. (So not a bulwark.Message from [MessageSlab], whose
// blocks keep their used records, and so their fetch buffers, reachable.)
type Record struct {
	Key, Value []byte
	Offset     int64
}

// Poll appends to buf the records available (at most max), waiting for the
// first until wait passes (wait <= 0: no limit) or done is closed. It
// returns open false once sarama's consumer ended by itself (its offset
// went out of range): follow again from the next offset.
func (f *Follower) Poll(done <-chan struct{}, wait time.Duration, max int, buf []Record) (_ []Record, open bool) {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case cm, ok := <-f.pc.Messages():
		if !ok {
			return buf, false
		}
		buf = append(buf, Record{Key: cm.Key, Value: cm.Value, Offset: cm.Offset})
	case <-done:
		return buf, true
	case <-timeout:
		return buf, true
	}
	for len(buf) < max {
		select {
		case cm, ok := <-f.pc.Messages():
			if !ok {
				return buf, false
			}
			buf = append(buf, Record{Key: cm.Key, Value: cm.Value, Offset: cm.Offset})
		default:
			return buf, true
		}
	}
	return buf, true
}

// Close stops following and waits for the error goroutine.
func (f *Follower) Close() {
	f.pc.AsyncClose()
	// AsyncClose closes Messages and Errors once sarama's goroutines are
	// done; drain both so they can finish.
	for range f.pc.Messages() {
	}
	<-f.errorsDone
}
