package produce_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

const topic = "t"

func TestProduceExactlyOnceInOrder(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 6))
	cl := newClient(t, c)
	e := newEngine(t, cl, produce.WithMaxBatchRecords(50))
	tr := newTracker()
	keyedLoad(t, e, tr, topic, 8, 40, 100, nil)
	flushAll(t, e, tr)
	verify(t, newClient(t, c), e, tr, topic, 6)
}

// TestBackpressure: with the buffer full, Produce waits for room and gives
// up with ctx's error; once records settle it accepts more.
func TestBackpressure(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	cl := newClient(t, c)
	e := newEngine(t, cl, produce.WithMaxBufferedRecords(10), produce.WithRetryBackoff(20*time.Millisecond))
	f := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Err: kafkatest.RequestTimedOut, Count: -1})
	tr := newTracker()
	for i := range 10 {
		tr.produce(e, topic, "k", fmt.Sprintf("k/%03d", i))
	}
	waitHits(t, f, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	got := make(chan error, 1)
	e.Produce(ctx, produce.Record{Topic: topic, Key: []byte("k"), Value: []byte("refused")}, func(_ int32, _ int64, err error) { got <- err })
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "Produce did not wait for room")
	select {
	case err := <-got:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("no callback for the refused record")
	}

	f.Remove()
	for i := 10; i < 20; i++ {
		tr.produce(e, topic, "k", fmt.Sprintf("k/%03d", i))
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer fcancel()
	require.NoError(t, e.Flush(fctx))
	tr.wait(t, time.Second)
	verify(t, newClient(t, c), e, tr, topic, 1)
}
