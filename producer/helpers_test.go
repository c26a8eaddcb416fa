package producer_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/require"
)

// newProducer starts a producer on c and closes it when the test ends.
func newProducer(t testing.TB, c *kafkatest.Cluster, opts ...producer.Option) *producer.Producer {
	t.Helper()
	p, err := producer.New(c.Brokers(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func readTopic(t testing.TB, c *kafkatest.Cluster, topic string, opts ...kafkatest.ReadOption) []*bulwark.Message {
	t.Helper()
	recs, err := c.ReadTopic(ctxFor(t, 60*time.Second), topic, opts...)
	require.NoError(t, err)
	return recs
}
