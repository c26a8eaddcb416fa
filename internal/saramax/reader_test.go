package saramax_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readerLog writes, to topic t of a new cluster (2 partitions):
//
//	p0: a0 a1 C | x0 x1 x2 A | a2 C    (end 9)
func readerLog(t *testing.T) *kafkatest.Cluster {
	t.Helper()
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 2))
	require.NoError(t, c.WriteTransactions(context.Background(), "t", "tx", []kafkatest.Txn{
		{Records: map[int32][]string{0: {"a0", "a1"}}, Commit: true},
		{Records: map[int32][]string{0: {"x0", "x1", "x2"}}},
		{Records: map[int32][]string{0: {"a2"}}, Commit: true},
	}))
	return c
}

func connectReader(t *testing.T, c *kafkatest.Cluster, rc saramax.ReaderConfig) *saramax.Reader {
	t.Helper()
	s, err := conn.Build(c.ConnOptions()...)
	require.NoError(t, err)
	r, err := saramax.ConnectReader(context.Background(), c.Brokers(), s, rc)
	require.NoError(t, err)
	return r
}

// readRange is Read of [from, to) of t/0: the values and offsets read.
func readRange(t *testing.T, r *saramax.Reader, from, to int64) (vals []string, offs []int64) {
	t.Helper()
	n, err := r.Read(context.Background(), "t", 0, from, to, func(m *bulwark.Message) {
		vals, offs = append(vals, string(m.Value)), append(offs, m.Offset)
		assert.Equal(t, int32(0), m.Partition)
	})
	require.NoError(t, err)
	assert.Equal(t, len(vals), n)
	return vals, offs
}

// Read reads exactly the records of the range it is given, in offset
// order, skipping transaction markers (aborted records are read: it reads
// uncommitted), whatever the partition holds around the range.
func TestReaderReadsOnlyTheRange(t *testing.T) {
	verifyNoLeaks(t)
	c := readerLog(t)
	r := connectReader(t, c, saramax.ReaderConfig{})
	defer r.Close()

	parts, err := r.Partitions(context.Background(), "t")
	require.NoError(t, err)
	assert.ElementsMatch(t, []int32{0, 1}, parts)
	missing, err := r.Partitions(context.Background(), "missing")
	require.NoError(t, err)
	assert.Empty(t, missing)
	oldest, end, err := r.Offsets("t", 0)
	require.NoError(t, err)
	assert.Equal(t, [2]int64{0, 9}, [2]int64{oldest, end})

	vals, offs := readRange(t, r, 0, 9)
	assert.Equal(t, []string{"a0", "a1", "x0", "x1", "x2", "a2"}, vals)
	assert.Equal(t, []int64{0, 1, 3, 4, 5, 7}, offs)
	vals, _ = readRange(t, r, 1, 5)
	assert.Equal(t, []string{"a1", "x0", "x1"}, vals, "stops before the end asked")
	vals, _ = readRange(t, r, 6, 9)
	assert.Equal(t, []string{"a2"}, vals, "from a marker")
	vals, _ = readRange(t, r, 9, 9)
	assert.Empty(t, vals)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Read(ctx, "t", 0, 0, 9, func(*bulwark.Message) {})
	assert.ErrorIs(t, err, context.Canceled)
}

// Under read_committed, Read also skips the records of aborted
// transactions, as sarama's consumer does, and only those.
func TestReaderReadCommittedSkipsAbortedRecords(t *testing.T) {
	verifyNoLeaks(t)
	c := readerLog(t)
	r := connectReader(t, c, saramax.ReaderConfig{ReadCommitted: true})
	defer r.Close()

	vals, offs := readRange(t, r, 0, 9)
	assert.Equal(t, []string{"a0", "a1", "a2"}, vals)
	assert.Equal(t, []int64{0, 1, 7}, offs)
	vals, _ = readRange(t, r, 4, 9)
	assert.Equal(t, []string{"a2"}, vals, "from inside the aborted transaction")
	vals, _ = readRange(t, r, 1, 3)
	assert.Equal(t, []string{"a1"}, vals)
}

// poll collects what f delivers until it has want records or a bounded
// number of polls found nothing more.
func poll(t *testing.T, f *saramax.Follower, want int) (vals []string, offs []int64) {
	t.Helper()
	var buf []saramax.Record
	for idle := 0; len(vals) < want && idle < 50; {
		var open bool
		buf, open = f.Poll(nil, 100*time.Millisecond, 2, buf[:0])
		require.True(t, open)
		assert.LessOrEqual(t, len(buf), 2, "at most max records")
		if len(buf) == 0 {
			idle++
		}
		for _, rec := range buf {
			vals, offs = append(vals, string(rec.Value)), append(offs, rec.Offset)
		}
	}
	return vals, offs
}

// Follow delivers what sarama's consumer does under the reader's
// isolation, from the position asked, and its Close ends its goroutines.
func TestReaderFollows(t *testing.T) {
	verifyNoLeaks(t)
	c := readerLog(t)
	for _, tc := range []struct {
		committed bool
		from      int64
		vals      []string
		offs      []int64
	}{
		{true, saramax.OffsetOldest, []string{"a0", "a1", "a2"}, []int64{0, 1, 7}},
		{true, 1, []string{"a1", "a2"}, []int64{1, 7}},
		{false, saramax.OffsetOldest, []string{"a0", "a1", "x0", "x1", "x2", "a2"}, []int64{0, 1, 3, 4, 5, 7}},
		{false, 4, []string{"x1", "x2", "a2"}, []int64{4, 5, 7}},
	} {
		r := connectReader(t, c, saramax.ReaderConfig{ReadCommitted: tc.committed})
		f, err := r.Follow("t", 0, tc.from, func(err error) { t.Errorf("follow: %v", err) })
		require.NoError(t, err)
		vals, offs := poll(t, f, len(tc.vals))
		assert.Equal(t, tc.vals, vals, "read_committed=%v from %d", tc.committed, tc.from)
		assert.Equal(t, tc.offs, offs, "read_committed=%v from %d", tc.committed, tc.from)
		// Nothing more arrives: an empty poll returns when wait passes,
		// and at once when done is closed.
		buf, open := f.Poll(nil, 10*time.Millisecond, 10, nil)
		assert.True(t, open)
		assert.Empty(t, buf)
		done := make(chan struct{})
		close(done)
		buf, open = f.Poll(done, 0, 10, nil)
		assert.True(t, open)
		assert.Empty(t, buf)
		f.Close()
		r.Close()
	}
}

// A position below the partition's first offset (records deleted since)
// follows from the first offset, which sarama's consumer refuses to do.
func TestReaderFollowsFromTheFirstOffsetLeft(t *testing.T) {
	verifyNoLeaks(t)
	c := readerLog(t)
	s, err := conn.Build(c.ConnOptions()...)
	require.NoError(t, err)
	cfg, err := saramax.NewConfig(s)
	require.NoError(t, err)
	admin, err := sarama.NewClusterAdmin(c.Brokers(), cfg)
	require.NoError(t, err)
	require.NoError(t, admin.DeleteRecords("t", map[int32]int64{0: 4}))
	require.NoError(t, admin.Close())

	r := connectReader(t, c, saramax.ReaderConfig{})
	defer r.Close()
	oldest, _, err := r.Offsets("t", 0)
	require.NoError(t, err)
	require.Equal(t, int64(4), oldest)
	f, err := r.Follow("t", 0, 1, func(err error) { t.Errorf("follow: %v", err) })
	require.NoError(t, err)
	defer f.Close()
	vals, offs := poll(t, f, 3)
	assert.Equal(t, []string{"x1", "x2", "a2"}, vals)
	assert.Equal(t, []int64{4, 5, 7}, offs)
}

// Partitions is bounded by its context although sarama's metadata calls
// take none: a broker that holds the request fails it with a connect
// error matching ctx's once ctx ends, and the reader still closes at once.
func TestReaderPartitionsBoundedByContext(t *testing.T) {
	verifyNoLeaks(t)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	r := connectReader(t, c, saramax.ReaderConfig{})
	arrived, release := c.HoldNext(kafkatest.Metadata)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	parts, err := r.Partitions(ctx, "t")
	<-arrived
	assert.Nil(t, parts)
	var ce *conn.ConnectError
	if !errors.As(err, &ce) || !errors.Is(err, conn.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Partitions: %v (%T), want a *conn.ConnectError matching conn.ErrUnreachable and ctx's error", err, err)
	}
	r.Close()
}

// Abort ends a follower's reading: Poll reports no records (it does not
// hang), and Close of the follower and the reader return.
func TestReaderAbortStopsFollowing(t *testing.T) {
	verifyNoLeaks(t)
	c := readerLog(t)
	r := connectReader(t, c, saramax.ReaderConfig{})
	f, err := r.Follow("t", 0, saramax.OffsetOldest, func(error) {})
	require.NoError(t, err)
	_, _ = poll(t, f, 6)
	r.Abort()
	_, _, err = r.Offsets("t", 0)
	assert.Error(t, err, "calls after Abort fail")
	buf, _ := f.Poll(nil, 50*time.Millisecond, 10, nil)
	assert.Empty(t, buf)
	f.Close()
	r.Close()
}
