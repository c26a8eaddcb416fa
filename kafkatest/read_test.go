package kafkatest_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func sortedValues(recs []*bulwark.Message) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	sort.Strings(out)
	return out
}

func TestReadTopicWaitsForASlowCluster(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 2))
	cl := client(t, c)
	for _, v := range []string{"a", "b", "c", "d"} {
		produce(t, cl, &kgo.Record{Topic: "t", Key: []byte(v), Value: []byte(v)})
	}
	// The reader's first fetch is answered late, after more than a poll
	// without records: ReadTopic must keep going to the end, not stop
	// with fewer records.
	arrived, release := c.HoldNext(kafkatest.Fetch)
	defer release()
	go func() {
		<-arrived
		time.Sleep(1500 * time.Millisecond)
		release()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := c.ReadTopic(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c", "d"}, sortedValues(got))
}

func TestReadTopicNamesThePartitionsItCouldNotFinish(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	produce(t, client(t, c), &kgo.Record{Topic: "t", Value: []byte("x")})
	_, release := c.HoldNext(kafkatest.Fetch)
	defer release()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	got, err := c.ReadTopic(ctx, "t")
	require.Error(t, err, "no silent short read")
	assert.Nil(t, got)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "partitions 0 (at -1 of 1)")
	assert.Less(t, time.Since(start), 10*time.Second, "bounded by the context")
}

func TestReadCommittedStopsAtTheLastStableOffset(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plain := client(t, c)
	a := client(t, c, kgo.TransactionalID("tx-a"))
	b := client(t, c, kgo.TransactionalID("tx-b"))
	rec := func(v string) *kgo.Record { return &kgo.Record{Topic: "t", Value: []byte(v)} }

	// One partition: plain, a1 (aborted), b1 (open), a2 (committed after
	// b1). The last stable offset is b1's: a read_committed reader sees
	// only plain, although the log holds a commit marker beyond it.
	produce(t, plain, rec("plain"))
	require.NoError(t, a.BeginTransaction())
	produce(t, a, rec("a1"))
	require.NoError(t, b.BeginTransaction())
	produce(t, b, rec("b1"))
	require.NoError(t, a.EndTransaction(ctx, kgo.TryAbort))
	require.NoError(t, a.BeginTransaction())
	produce(t, a, rec("a2"))
	require.NoError(t, a.EndTransaction(ctx, kgo.TryCommit))

	got, err := c.ReadTopic(ctx, "t", kafkatest.ReadCommitted())
	require.NoError(t, err)
	assert.Equal(t, []string{"plain"}, sortedValues(got))
	got, err = c.ReadTopic(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, []string{"a1", "a2", "b1", "plain"}, sortedValues(got), "read_uncommitted sees everything")

	require.NoError(t, b.EndTransaction(ctx, kgo.TryCommit))
	got, err = c.ReadTopic(ctx, "t", kafkatest.ReadCommitted())
	require.NoError(t, err)
	assert.Equal(t, []string{"a2", "b1", "plain"}, sortedValues(got))
	for i := 1; i < len(got); i++ {
		assert.Less(t, got[i-1].Offset, got[i].Offset, "in offset order")
	}
}
