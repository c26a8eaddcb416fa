package produce_test

import (
	"context"
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.Flush(ctx))
	tr.wait(t, time.Second)
	verify(t, newClient(t, c), e, tr, topic, 6)
}
