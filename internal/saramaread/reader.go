package saramaread

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Goroutines: sarama's own (client, consumer, one set per partition read)
// end with Reader.Close and Partition.Close; Read starts one per Partition
// that drains sarama's error channel into onError and ends when
// Partition.Close has closed it.

// ErrUnknownTopic: the topic to read does not exist.
var ErrUnknownTopic = errors.New("topic does not exist")

// fetchDefault is the bytes asked per partition and fetch: larger than
// sarama's 1 MiB default, as a restore reads whole partitions.
const fetchDefault = 4 << 20

// Reader reads one topic. Its methods are safe for concurrent use.
type Reader struct {
	client   sarama.Client
	consumer sarama.Consumer
	aborter  *saramax.Aborter
	topic    string
	parts    []int32
}

// Connect builds the configuration (connection settings, read_committed,
// then tweak, the user's escape hatch, may be nil), connects bounded by ctx
// and s.ConnectTimeout ([saramax.Connect]) and checks that topic exists.
func Connect(ctx context.Context, brokers []string, topic string, s conn.Settings, tweak func(*sarama.Config)) (*Reader, error) {
	cfg, err := saramax.NewConfig(s)
	if err != nil {
		return nil, err
	}
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Fetch.Default = fetchDefault
	if tweak != nil {
		tweak(cfg)
	}
	if err := saramax.Validate(cfg); err != nil {
		return nil, err
	}
	// Our own aborter, beside the one Connect adds while connecting: Close
	// cuts every connection first, so that nothing sarama does on the way
	// out (a fetch to a hung broker, a redispatch) waits for a timeout.
	aborter := saramax.MakeAbortable(cfg)
	client, err := saramax.Connect(ctx, brokers, cfg, s,
		func(cut *sarama.Config) (sarama.Client, error) { return sarama.NewClient(brokers, cut) },
		func(c sarama.Client) { _ = c.Close() })
	if err != nil {
		return nil, err
	}
	r := &Reader{client: client, aborter: aborter, topic: topic}
	if err := r.init(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// init checks the topic and starts the consumer. The metadata calls take no
// context; each is bounded by sarama's retries and timeouts, and a caller
// whose ctx ends waits for them no longer: the connections are cut.
func (r *Reader) init(ctx context.Context) (err error) {
	stop := context.AfterFunc(ctx, r.aborter.Abort)
	defer func() {
		// ctx ended as init finished: the cut may be under way, and a
		// reader whose connections are cut for good is of no use.
		if !stop() && err == nil {
			err = gaveUp(ctx, nil)
		}
	}()
	var missing []string
	missing, err = saramax.MissingTopics(r.client, []string{r.topic})
	if err == nil && len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, r.topic)
	}
	if err == nil {
		r.parts, err = r.client.Partitions(r.topic)
	}
	if err == nil {
		r.consumer, err = sarama.NewConsumerFromClient(r.client)
	}
	if err != nil && ctx.Err() != nil {
		return gaveUp(ctx, err)
	}
	return err
}

// gaveUp is the error of an init cut short by ctx, typed as the connect
// that came before it would have been.
func gaveUp(ctx context.Context, last error) error {
	why := context.Cause(ctx)
	if last != nil {
		why = fmt.Errorf("%w (last error: %v)", why, last)
	}
	return &conn.ConnectError{Kind: conn.ErrUnreachable, Detail: "the context ended before the topic's metadata was read", Err: why}
}

// Partitions returns the topic's partitions as of Connect.
func (r *Reader) Partitions() []int32 { return r.parts }

// End returns the partition's high watermark: the offset after the last
// record written, committed or not.
func (r *Reader) End(partition int32) (int64, error) {
	return r.client.GetOffset(r.topic, partition, sarama.OffsetNewest)
}

// NextDelivered is [saramax.NextDelivered] for this topic: the first offset
// at or after from holding a record Read would deliver, or else the last
// stable offset.
func (r *Reader) NextDelivered(partition int32, from int64) (int64, error) {
	return saramax.NextDelivered(r.client, r.topic, partition, from)
}

// Oldest is the position that reads a partition from its first record.
const Oldest = sarama.OffsetOldest

// Read starts reading partition at from (an offset, or [Oldest]). A from
// below the partition's first offset (records deleted meanwhile) starts at
// the first one. onError gets the errors sarama reports while reading and
// retries itself; it runs on a goroutine of the returned Partition, which
// ends when the Partition is closed.
func (r *Reader) Read(partition int32, from int64, onError func(error)) (*Partition, error) {
	pc, err := r.consumer.ConsumePartition(r.topic, partition, from)
	if errors.Is(err, sarama.ErrOffsetOutOfRange) && from != Oldest {
		oldest, oerr := r.client.GetOffset(r.topic, partition, sarama.OffsetOldest)
		if oerr != nil {
			return nil, oerr
		}
		if from < oldest {
			pc, err = r.consumer.ConsumePartition(r.topic, partition, oldest)
		}
	}
	if err != nil {
		return nil, err
	}
	p := &Partition{pc: pc, errorsDone: make(chan struct{})}
	go func() {
		defer close(p.errorsDone)
		for err := range pc.Errors() {
			onError(err)
		}
	}()
	return p, nil
}

// Abort cuts every connection: sarama calls in progress fail at once and
// partitions being read stop receiving records. Idempotent.
func (r *Reader) Abort() { r.aborter.Abort() }

// Close cuts every connection, then closes the consumer and the client:
// a reader has nothing to flush, and cut connections make sarama's own
// shutdown fast whatever state the brokers are in. Call it once, after
// every Partition is closed.
func (r *Reader) Close() {
	r.aborter.Abort()
	if r.consumer != nil {
		_ = r.consumer.Close()
	}
	_ = r.client.Close()
}

// Partition is one partition being read, by one goroutine at a time.
type Partition struct {
	pc         sarama.PartitionConsumer
	errorsDone chan struct{}
}

// Record is what a table needs of a record. Key and Value are slices of
// sarama's fetch buffer (a nil Value is a tombstone): copy what is kept,
// and clear the records once done, or they keep a whole fetch response
// alive. (So not bulwark.Message from saramax.MessageSlab, whose blocks
// keep their used records, and so their fetch buffers, reachable.)
type Record struct {
	Key, Value []byte
	Offset     int64
}

// Poll appends to buf the records available (at most max), waiting for the
// first until wait passes (wait <= 0: no limit) or done is closed. It
// returns open false once the partition consumer ended by itself (its
// offset went out of range): read again from the next offset.
func (p *Partition) Poll(done <-chan struct{}, wait time.Duration, max int, buf []Record) (_ []Record, open bool) {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case cm, ok := <-p.pc.Messages():
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
		case cm, ok := <-p.pc.Messages():
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

// Close stops reading and waits for the error goroutine.
func (p *Partition) Close() {
	p.pc.AsyncClose()
	// AsyncClose closes Messages and Errors once sarama's goroutines are
	// done; drain both so they can finish.
	for range p.pc.Messages() {
	}
	<-p.errorsDone
}
