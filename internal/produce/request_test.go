package produce_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMaxRequestBytes: with six partitions' batches ready at once on one
// broker, no produce request is larger than the cap, so they go in
// several requests, some with more than one batch; every record arrives
// once, in order.
func TestMaxRequestBytes(t *testing.T) {
	const limit = 6 << 10
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTopic(topic, 6))
	var mu sync.Mutex
	var requests [][]int // per request, the encoded size of each batch
	c.Kfake().ControlKey(int16(kafkatest.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		var sizes []int
		for _, rt := range r.(*kmsg.ProduceRequest).Topics {
			for _, rp := range rt.Partitions {
				sizes = append(sizes, len(rp.Records))
			}
		}
		mu.Lock()
		requests = append(requests, sizes)
		mu.Unlock()
		return nil, nil, false
	})
	cl := newClient(t, c)
	e := newEngine(t, cl, produce.WithLinger(time.Hour), produce.WithMaxRequestBytes(limit))
	tr := newTracker()
	keyedLoad(t, e, tr, topic, 2, 24, 10, nil)
	tr.flush(t, e)
	verify(t, newClient(t, c), e, tr, topic, 6)

	mu.Lock()
	defer mu.Unlock()
	batches, most := 0, 0
	for i, sizes := range requests {
		total := 0
		for _, n := range sizes {
			total += n
		}
		require.LessOrEqual(t, total, limit, "request %d: batches of %v bytes", i, sizes)
		batches += len(sizes)
		most = max(most, len(sizes))
	}
	require.Equal(t, 6, batches, "one batch per partition")
	require.Greater(t, len(requests), 1, "the cap did not split the request")
	require.Greater(t, most, 1, "no request took more than one batch")
}

// TestMaxInFlight: with WithMaxInFlight(2), while the broker sits on a
// request for one partition, a request for another partition goes out on
// the same connection; every record then arrives once, in order.
func TestMaxInFlight(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTopic(topic, 2))
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the cluster's cleanup: a slept request must not strand kfake
	held := make(chan struct{})
	c.Kfake().ControlKey(int16(kafkatest.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.Kfake().DropControl()
		close(held)
		c.Kfake().SleepControl(func() { <-release })
		return nil, nil, false
	})
	cl := newClient(t, c)
	e := newEngine(t, cl, produce.WithManualPartitioning(), produce.WithMaxInFlight(2))
	tr := newTracker()
	tr.produceRecord(e, produce.Record{Topic: topic, Partition: 0, Key: []byte("a"), Value: []byte("a/1")})
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no produce request arrived")
	}
	tr.produceRecord(e, produce.Record{Topic: topic, Partition: 1, Key: []byte("b"), Value: []byte("b/1")})
	// sarama's response reader holds the first request's promise while
	// it waits for the answer, so a promise queued behind it is a second
	// request in flight on the connection.
	b, err := cl.Leader(topic, 1)
	require.NoError(t, err)
	for i := 0; b.ResponseSize() < 1; i++ {
		require.Less(t, i, 2000, "no second request in flight")
		time.Sleep(5 * time.Millisecond)
	}
	unblock()
	tr.flush(t, e)
	verify(t, newClient(t, c), e, tr, topic, 2)
}

// TestMaxInFlightNeedsOpenRequests: New refuses more requests in flight
// than the client lets a connection have.
func TestMaxInFlightNeedsOpenRequests(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	cl, _ := newTunedClient(t, c, func(cfg *sarama.Config) { cfg.Net.MaxOpenRequests = 1 })
	_, err := produce.New(cl, produce.WithMaxInFlight(2))
	require.ErrorContains(t, err, "MaxOpenRequests")
	e, err := produce.New(cl, produce.WithMaxInFlight(1))
	require.NoError(t, err)
	require.NoError(t, e.Close(context.Background()))
}
