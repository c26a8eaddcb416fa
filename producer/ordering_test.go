package producer_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chaosRecords is the size of the ordering run: 20,000 by default (the
// issue's figure), more with BULWARK_CHAOS_RECORDS for a longer soak.
func chaosRecords(t *testing.T) int {
	if v := os.Getenv("BULWARK_CHAOS_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "BULWARK_CHAOS_RECORDS")
		return n
	}
	return 20_000
}

// TestNoDuplicatesAndKeyOrderUnderRetriableFailures sends a keyed stream
// while produce requests fail with NOT_LEADER_OR_FOLLOWER, fail with
// REQUEST_TIMED_OUT after the cluster appended the batch (the case that
// duplicates records without idempotence), every client connection is
// dropped, and partition leaders move. Reading the topic back must show
// every record exactly once and, per key, in send order.
func TestNoDuplicatesAndKeyOrderUnderRetriableFailures(t *testing.T) {
	const topic, keys = "chaos", 40
	total := chaosRecords(t)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 6))
	dialer := kafkatest.NewDialer()
	p := newProducer(t, c,
		producer.WithConnection(conn.WithDialer(dialer), conn.WithRetryBackoff(20*time.Millisecond)),
		producer.WithRetryBackoff(20*time.Millisecond),
		producer.WithDeliveryTimeout(60*time.Second),
	)
	ctx := ctxFor(t, 120*time.Second)

	// Faults fire at these points of the run; the sender waits until each
	// one has hit, so there are records before and after every fault.
	faults := map[int]func() (string, func(context.Context) error){
		total / 5: func() (string, func(context.Context) error) {
			h := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic,
				Err: kafkatest.NotLeaderOrFollower, Count: 4})
			return "NOT_LEADER_OR_FOLLOWER", func(ctx context.Context) error { return h.Wait(ctx, 4) }
		},
		2 * total / 5: func() (string, func(context.Context) error) {
			h := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic,
				Err: kafkatest.RequestTimedOut, Count: 6})
			return "REQUEST_TIMED_OUT", func(ctx context.Context) error { return h.Wait(ctx, 6) }
		},
		3 * total / 5: func() (string, func(context.Context) error) {
			dialer.DropConnections()
			return "dropped connections", func(context.Context) error { return nil }
		},
		4 * total / 5: func() (string, func(context.Context) error) {
			c.ShuffleLeaders()
			return "leaders moved", func(context.Context) error { return nil }
		},
	}

	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		firstErr atomic.Value
	)
	for i := range total {
		if inject, ok := faults[i]; ok {
			name, wait := inject()
			require.NoError(t, wait(ctx), "fault %s never hit", name)
			t.Logf("record %d: %s", i, name)
		}
		key := i % keys
		msg := &bulwark.Message{Topic: topic, Key: []byte("key-" + strconv.Itoa(key)), Value: []byte(strconv.Itoa(i))}
		wg.Add(1)
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

	recs := readTopic(t, c, topic)
	seen := make(map[int]bool, total)
	ids := make(map[string]bool, total)
	lastPerKey := map[string]int{}
	for _, r := range recs {
		i, err := strconv.Atoi(string(r.Value))
		require.NoError(t, err)
		require.False(t, seen[i], "record %d written twice", i)
		seen[i] = true
		key := string(r.Key)
		require.Equal(t, "key-"+strconv.Itoa(i%keys), key)
		if last, ok := lastPerKey[key]; ok {
			require.Greater(t, i, last, "key %s: record %d written after %d", key, i, last)
		}
		lastPerKey[key] = i
		id := r.MessageID()
		require.NotEmpty(t, id)
		require.False(t, ids[id], "message ID %s on two records", id)
		ids[id] = true
	}
	if len(seen) != total {
		var missing []string
		for i := 0; i < total && len(missing) < 10; i++ {
			if !seen[i] {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		t.Fatalf("%d of %d records written; first missing: %s", len(seen), total, strings.Join(missing, ","))
	}
	assert.Len(t, recs, total)
	assert.Equal(t, keys, len(lastPerKey), fmt.Sprint("keys seen: ", len(lastPerKey)))
}
