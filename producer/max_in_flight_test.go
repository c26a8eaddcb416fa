package producer_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMaxInFlightAndRequestBytesAreValidated(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	for name, opt := range map[string]producer.Option{
		"in flight over 5":       producer.WithMaxInFlight(6),
		"negative in flight":     producer.WithMaxInFlight(-1),
		"negative request bytes": producer.WithMaxRequestBytes(-1),
	} {
		_, err := producer.New(c.Brokers(), opt)
		require.ErrorIs(t, err, producer.ErrInvalidConfig, name)
	}
}

// With five requests in flight per broker and requests capped small (so a
// broker's partitions go in several requests at once), retries after
// NOT_LEADER, REQUEST_TIMED_OUT, INVALID_PRODUCER_EPOCH (a new epoch) and
// dropped connections keep every record exactly once, in order per key,
// and each partition's sequences without a gap or an overlap within each
// producer epoch.
func TestMaxInFlightKeepsOrderAndSequencesUnderRetries(t *testing.T) {
	const topic, keys, total, partitions = "mif", 24, 6000, 6
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, partitions))
	dialer := kafkatest.NewDialer()
	p := newProducer(t, c,
		producer.WithConnection(conn.WithDialer(dialer), conn.WithRetryBackoff(20*time.Millisecond)),
		producer.WithRetryBackoff(20*time.Millisecond),
		producer.WithDeliveryTimeout(60*time.Second),
		producer.WithMaxInFlight(5),
		producer.WithMaxRequestBytes(2048),
		producer.WithMaxBatchRecords(20),
	)
	ctx := ctxFor(t, 120*time.Second)
	faults := map[int]func() *kafkatest.FaultHandle{
		total / 5: func() *kafkatest.FaultHandle {
			return c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic, Err: kafkatest.NotLeaderOrFollower, Count: 3})
		},
		2 * total / 5: func() *kafkatest.FaultHandle {
			return c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic, Err: kafkatest.RequestTimedOut, Count: 3})
		},
		3 * total / 5: func() *kafkatest.FaultHandle {
			return c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic, Err: kafkatest.InvalidProducerEpoch, Count: 2})
		},
	}
	var wg sync.WaitGroup
	var failures atomic.Int64
	var firstErr atomic.Value
	for i := range total {
		if inject, ok := faults[i]; ok {
			h := inject()
			require.NoError(t, h.Wait(ctx, 1), "fault at record %d never hit", i)
		}
		if i == 4*total/5 {
			dialer.DropConnections()
		}
		wg.Add(1)
		msg := &bulwark.Message{Topic: topic, Key: []byte("key-" + strconv.Itoa(i%keys)), Value: []byte(strconv.Itoa(i))}
		p.SendAsync(ctx, msg, func(_ producer.Result, err error) {
			defer wg.Done()
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	require.Zero(t, failures.Load(), "records failed, first: %v", firstErr.Load())

	cl, err := sarama.NewClient(c.Brokers(), sarama.NewConfig())
	require.NoError(t, err)
	defer cl.Close()
	seen := make(map[int]bool, total)
	lastPerKey := map[string]int{}
	for part := range int32(partitions) {
		type ident struct {
			pid   int64
			epoch int16
		}
		nextSeq := map[ident]int32{}
		for _, rb := range fetchBatches(t, cl, topic, part) {
			id := ident{rb.ProducerID, rb.ProducerEpoch}
			require.Equal(t, nextSeq[id], rb.FirstSequence, "partition %d, producer %d epoch %d: sequence gap or overlap", part, id.pid, id.epoch)
			nextSeq[id] = rb.FirstSequence + int32(len(rb.Records))
			for _, r := range rb.Records {
				i, err := strconv.Atoi(string(r.Value))
				require.NoError(t, err)
				require.False(t, seen[i], "record %d written twice", i)
				seen[i] = true
				key := string(r.Key)
				if last, ok := lastPerKey[key]; ok {
					require.Greater(t, i, last, "key %s: record %d written after %d", key, i, last)
				}
				lastPerKey[key] = i
			}
		}
	}
	assert.Len(t, seen, total, "every record written")
}

// fetchBatches reads partition's record batches from the start, bounded
// in time.
func fetchBatches(t *testing.T, cl sarama.Client, topic string, partition int32) []*sarama.RecordBatch {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var out []*sarama.RecordBatch
	var next int64
	for {
		require.True(t, time.Now().Before(deadline), "read-back of %s/%d timed out", topic, partition)
		require.NoError(t, cl.RefreshMetadata(topic))
		b, err := cl.Leader(topic, partition)
		require.NoError(t, err)
		req := &sarama.FetchRequest{Version: 4, MaxWaitTime: 50, MinBytes: 1, MaxBytes: 16 << 20, Isolation: sarama.ReadUncommitted}
		req.AddBlock(topic, partition, next, 16<<20, -1)
		resp, err := b.Fetch(req)
		if err != nil {
			_ = b.Close()
			continue
		}
		blk := resp.GetBlock(topic, partition)
		require.NotNil(t, blk)
		if blk.Err != sarama.ErrNoError {
			continue
		}
		for _, rs := range blk.RecordsSet {
			rb := rs.RecordBatch
			if rb == nil || rb.FirstOffset < next || len(rb.Records) == 0 {
				continue
			}
			out = append(out, rb)
			next = rb.FirstOffset + int64(len(rb.Records))
		}
		if next >= blk.HighWaterMarkOffset {
			return out
		}
	}
}
