package producer_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSendReturnsWhereTheRecordWasWritten(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("orders", 3))
	p := newProducer(t, c)
	ctx := ctxFor(t, 30*time.Second)

	res, err := p.Send(ctx, &bulwark.Message{Topic: "orders", Key: []byte("k1"), Value: []byte("v1"),
		Headers: []bulwark.Header{{Key: "h", Value: []byte("x")}}})
	require.NoError(t, err)
	assert.Equal(t, "orders", res.Topic)

	recs := readTopic(t, c, "orders")
	require.Len(t, recs, 1)
	got := recs[0]
	assert.Equal(t, res.Partition, got.Partition)
	assert.Equal(t, res.Offset, got.Offset)
	assert.Equal(t, []byte("k1"), got.Key)
	assert.Equal(t, []byte("v1"), got.Value)
	h, ok := got.Header("h")
	require.True(t, ok, "caller's header kept")
	assert.Equal(t, []byte("x"), h)
}

func TestEveryRecordGetsAUniqueMessageIDUnlessItHasOne(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("ids", 2))
	p := newProducer(t, c)
	ctx := ctxFor(t, 30*time.Second)

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		msg := &bulwark.Message{Topic: "ids", Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}
		if i == 0 {
			msg.Headers = []bulwark.Header{{Key: bulwark.HeaderMessageID, Value: []byte("caller-chosen")}}
		}
		wg.Add(1)
		p.SendAsync(ctx, msg, func(_ producer.Result, err error) {
			defer wg.Done()
			errs <- err
		})
		if i == 0 {
			assert.Len(t, msg.Headers, 1, "the caller's message is not modified")
		} else {
			assert.Empty(t, msg.Headers, "the caller's message is not modified")
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	seen := map[string]bool{}
	for _, r := range readTopic(t, c, "ids") {
		var ids []string
		for _, h := range r.Headers {
			if h.Key == bulwark.HeaderMessageID {
				ids = append(ids, string(h.Value))
			}
		}
		require.Len(t, ids, 1, "exactly one message-ID header on record %s", r.Value)
		id := ids[0]
		if string(r.Value) == "0" {
			assert.Equal(t, "caller-chosen", id)
		} else {
			// Generated IDs are version-4 UUIDs in 22 characters of
			// unpadded base64url.
			assert.Len(t, id, 22)
			raw, err := base64.RawURLEncoding.DecodeString(id)
			require.NoError(t, err, "generated ID %q", id)
			u, err := uuid.FromBytes(raw)
			require.NoError(t, err, "generated IDs are UUIDs")
			assert.Equal(t, uuid.Version(4), u.Version())
			assert.Equal(t, uuid.RFC4122, u.Variant())
		}
		assert.False(t, seen[id], "duplicate message ID %s", id)
		seen[id] = true
	}
	assert.Len(t, seen, n)
}

func TestManualPartitioningHonoursMessagePartition(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("manual", 4))
	ctx := ctxFor(t, 30*time.Second)

	manual := newProducer(t, c, producer.WithManualPartitioning())
	for part := int32(0); part < 4; part++ {
		res, err := manual.Send(ctx, &bulwark.Message{Topic: "manual", Partition: part, Key: []byte("same-key"), Value: []byte("v")})
		require.NoError(t, err)
		assert.Equal(t, part, res.Partition)
	}
	_, err := manual.Send(ctx, &bulwark.Message{Topic: "manual", Partition: 9, Value: []byte("v")})
	assert.Error(t, err, "a partition that does not exist fails the record")

	// Without the option the partition field is ignored: the key decides.
	hashed := newProducer(t, c)
	var parts []int32
	for part := int32(0); part < 4; part++ {
		res, err := hashed.Send(ctx, &bulwark.Message{Topic: "manual", Partition: part, Key: []byte("same-key"), Value: []byte("v")})
		require.NoError(t, err)
		parts = append(parts, res.Partition)
	}
	assert.Equal(t, []int32{parts[0], parts[0], parts[0], parts[0]}, parts)
}

func TestFlushWaitsForEveryAsyncRecord(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("flush", 3))
	p := newProducer(t, c, producer.WithLinger(50*time.Millisecond))
	ctx := ctxFor(t, 30*time.Second)

	var mu sync.Mutex
	done := 0
	for i := range 500 {
		p.SendAsync(ctx, &bulwark.Message{Topic: "flush", Key: []byte(fmt.Sprint(i % 7)), Value: []byte("v")},
			func(_ producer.Result, err error) {
				assert.NoError(t, err)
				mu.Lock()
				done++
				mu.Unlock()
			})
	}
	require.NoError(t, p.Flush(ctx))
	mu.Lock()
	assert.Equal(t, 500, done, "every callback ran before Flush returned")
	mu.Unlock()
	assert.Len(t, readTopic(t, c, "flush"), 500)
}

func TestCloseIsIdempotentAndRefusesLaterSends(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("closed", 1))
	p, err := producer.New(c.Brokers())
	require.NoError(t, err)
	ctx := ctxFor(t, 30*time.Second)

	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		p.SendAsync(ctx, &bulwark.Message{Topic: "closed", Value: []byte("v")}, func(_ producer.Result, err error) {
			defer wg.Done()
			assert.NoError(t, err, "records handed over before Close are delivered")
		})
	}
	require.NoError(t, p.Close())
	wg.Wait()
	require.NoError(t, p.Close(), "second Close")

	_, err = p.Send(ctx, &bulwark.Message{Topic: "closed", Value: []byte("late")})
	assert.ErrorIs(t, err, bulwark.ErrClosed)
	var asyncErr error
	p.SendAsync(ctx, &bulwark.Message{Topic: "closed", Value: []byte("late")}, func(_ producer.Result, err error) { asyncErr = err })
	assert.ErrorIs(t, asyncErr, bulwark.ErrClosed)
	assert.Len(t, readTopic(t, c, "closed"), 100)
}

func TestInvalidRecordsFailWithoutReachingTheCluster(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	p := newProducer(t, c, producer.WithMaxRecordBytes(1024))
	ctx := ctxFor(t, 30*time.Second)

	_, err := p.Send(ctx, nil)
	assert.ErrorIs(t, err, producer.ErrInvalidRecord)
	_, err = p.Send(ctx, &bulwark.Message{Value: []byte("no topic")})
	assert.ErrorIs(t, err, producer.ErrInvalidRecord)
	assert.Equal(t, bulwark.ClassPermanent, bulwark.ClassOf(err))

	_, err = p.Send(ctx, &bulwark.Message{Topic: "t", Value: make([]byte, 4096)})
	require.Error(t, err, "record over the size limit")
	assert.Equal(t, bulwark.ClassPermanent, bulwark.ClassOf(err), "too large never succeeds on retry: %v", err)
}

func TestSendAsyncCallbackPanicDoesNotStopTheProducer(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	p := newProducer(t, c)
	ctx := ctxFor(t, 30*time.Second)

	p.SendAsync(ctx, &bulwark.Message{Topic: "t", Value: []byte("1")}, func(producer.Result, error) { panic("boom") })
	_, err := p.Send(ctx, &bulwark.Message{Topic: "t", Value: []byte("2")})
	require.NoError(t, err)
}

func TestSendHonoursCancelledContext(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	p := newProducer(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Send(ctx, &bulwark.Message{Topic: "t", Value: []byte("v")})
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, p.Flush(ctxFor(t, 10*time.Second)))
	assert.Empty(t, readTopic(t, c, "t"), "a record sent with a cancelled context is never handed over")
}

// A callback that takes long must not hold up the records sent after it:
// the client goes on writing them (here, ten to a request) while the
// callback runs, and their callbacks follow in order once it returns.
func TestSlowCallbackDoesNotHoldUpLaterRecords(t *testing.T) {
	const n = 200
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("slow", 1))
	p := newProducer(t, c, producer.WithMaxBatchRecords(10))
	ctx := ctxFor(t, 30*time.Second)

	entered, unblock := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var order []int64
	var failures []error
	record := func(res producer.Result, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failures = append(failures, err)
			return
		}
		order = append(order, res.Offset)
	}
	p.SendAsync(ctx, &bulwark.Message{Topic: "slow", Value: []byte("first")}, func(res producer.Result, err error) {
		close(entered)
		<-unblock
		record(res, err)
	})
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the first record's callback never ran")
	}
	for i := range n {
		p.SendAsync(ctx, &bulwark.Message{Topic: "slow", Value: []byte(fmt.Sprint(i))}, record)
	}
	// Every record reaches the broker while the first callback still runs.
	require.Eventually(t, func() bool {
		ends, err := c.EndOffsets(ctx, "slow", false)
		return err == nil && ends[0] == n+1
	}, 20*time.Second, 20*time.Millisecond, "records written while a callback was blocked")
	mu.Lock()
	require.Empty(t, order, "no callback overtakes the blocked one")
	mu.Unlock()

	close(unblock)
	require.NoError(t, p.Flush(ctx))
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, failures)
	require.Len(t, order, n+1)
	for i, off := range order {
		require.Equal(t, int64(i), off, "callbacks in offset order")
	}
}

// TestCompressedRecordsReadBack sends with each codec and reads every
// record back intact (kafkatest decodes with franz-go), headers included.
func TestCompressedRecordsReadBack(t *testing.T) {
	for _, codec := range []string{"gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			c := kafkatest.NewCluster(t, kafkatest.WithTopic("z", 2))
			p := newProducer(t, c, producer.WithCompression(codec), producer.WithLinger(5*time.Millisecond))
			ctx := ctxFor(t, 30*time.Second)
			var wg sync.WaitGroup
			for i := range 300 {
				wg.Add(1)
				p.SendAsync(ctx, &bulwark.Message{Topic: "z", Key: []byte(fmt.Sprint(i % 5)), Value: []byte(fmt.Sprintf("value %04d, compressible compressible", i))},
					func(_ producer.Result, err error) { defer wg.Done(); assert.NoError(t, err) })
			}
			wg.Wait()
			recs := readTopic(t, c, "z")
			require.Len(t, recs, 300)
			seen := map[string]bool{}
			for _, r := range recs {
				seen[string(r.Value)] = true
				assert.NotEmpty(t, r.MessageID())
			}
			assert.Len(t, seen, 300)
		})
	}
}
