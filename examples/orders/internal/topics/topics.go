// Package topics reads topics from the beginning to their current end,
// every record with its headers: what the pipeline's checks, the
// projection's rebuild and the dead-letter listing read. (Services restore
// state from a compacted topic with bulwark's package table; the pipeline
// creates its topics with package provision.)
//
// The bulwark packages deliberately hide the Kafka client, and "read
// everything up to now" is outside what they do, so this package talks to
// the cluster through sarama directly. It builds its sarama configuration
// with the module's internal saramax, so that TLS and SASL work exactly as
// in the bulwark packages; a copy outside this module sets up sarama's
// Net.TLS and Net.SASL itself.
package topics

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Client reaches the cluster for administration and reads.
type Client struct {
	brokers []string
	cfg     *sarama.Config
}

// New returns a client for brokers, connecting as opts say (TLS, SASL):
// the same options the bulwark packages take, turned into a sarama
// configuration the way they do it.
func New(brokers []string, opts ...conn.Option) (*Client, error) {
	if len(brokers) == 0 {
		return nil, errors.New("topics: no brokers")
	}
	settings, err := conn.Build(append([]conn.Option{conn.WithClientID("orders-admin")}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("topics: %w", err)
	}
	cfg, err := saramax.NewConfig(settings)
	if err != nil {
		return nil, fmt.Errorf("topics: %w", err)
	}
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Fetch.Default = 1 << 20
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	return &Client{brokers: brokers, cfg: cfg}, nil
}

// ReadIdle is how long Read waits for more records of a partition before it
// decides that what remains below the end offset is transaction markers or
// aborted records, which read_committed readers never see. The first record
// of a partition gets ReadFirstWait.
const (
	ReadIdle      = time.Second
	ReadFirstWait = 5 * time.Second
)

// ReadAll reads several topics at once; see Read.
func (c *Client) ReadAll(ctx context.Context, topics ...string) (map[string][]*bulwark.Message, error) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		out   = map[string][]*bulwark.Message{}
		first error
	)
	for _, t := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs, err := c.Read(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			out[t] = recs
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return out, first
}

// Read returns the committed records of topic up to its end as of the call,
// ordered by partition and offset.
func (c *Client) Read(ctx context.Context, topic string) ([]*bulwark.Message, error) {
	client, err := sarama.NewClient(c.brokers, c.cfg)
	if err != nil {
		return nil, fmt.Errorf("topics: connect: %w", err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("topics: partitions of %s: %w", topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()

	var (
		mu      sync.Mutex
		out     []*bulwark.Message
		wg      sync.WaitGroup
		firstEr error
	)
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("topics: end offset of %s/%d: %w", topic, p, err)
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("topics: read %s/%d: %w", topic, p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			recs, err := drain(ctx, pc, end)
			mu.Lock()
			defer mu.Unlock()
			out = append(out, recs...)
			if err != nil && firstEr == nil {
				firstEr = fmt.Errorf("topics: read %s/%d: %w", topic, p, err)
			}
		}()
	}
	wg.Wait()
	if firstEr != nil {
		return nil, firstEr
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

func drain(ctx context.Context, pc sarama.PartitionConsumer, end int64) ([]*bulwark.Message, error) {
	var out []*bulwark.Message
	idle := time.NewTimer(ReadFirstWait)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case err := <-pc.Errors():
			if err != nil {
				return out, err
			}
		case m, ok := <-pc.Messages():
			if !ok {
				return out, nil
			}
			out = append(out, toMessage(m))
			if m.Offset >= end-1 {
				return out, nil
			}
			idle.Reset(ReadIdle)
		case <-idle.C:
			return out, nil
		}
	}
}

func toMessage(m *sarama.ConsumerMessage) *bulwark.Message {
	msg := &bulwark.Message{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Key: m.Key, Value: m.Value, Timestamp: m.Timestamp,
	}
	for _, h := range m.Headers {
		if h != nil {
			msg.Headers = append(msg.Headers, bulwark.Header{Key: string(h.Key), Value: h.Value})
		}
	}
	return msg
}
