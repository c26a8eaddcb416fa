package produce_test

import (
	"context"
	"sync"
	"testing"
	"time"

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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, e.Flush(ctx))
	tr.wait(t, time.Second)
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
