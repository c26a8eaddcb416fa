package saramax_test

import (
	"context"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tail reads exactly the records of the range it is given, in offset
// order, skipping transaction markers (aborted records are read: it reads
// uncommitted), whatever the partition holds around the range.
//
//	p0: a0 a1 C | x0 x1 x2 A | a2 C    (end 9)
func TestTailReadsOnlyTheRange(t *testing.T) {
	verifyNoLeaks(t)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 2))
	require.NoError(t, c.WriteTransactions(context.Background(), "t", "tx", []kafkatest.Txn{
		{Records: map[int32][]string{0: {"a0", "a1"}}, Commit: true},
		{Records: map[int32][]string{0: {"x0", "x1", "x2"}}},
		{Records: map[int32][]string{0: {"a2"}}, Commit: true},
	}))
	s, err := conn.Build(c.ConnOptions()...)
	require.NoError(t, err)
	tail, err := saramax.ConnectTail(context.Background(), c.Brokers(), s)
	require.NoError(t, err)
	defer tail.Close()

	parts, err := tail.Partitions("t")
	require.NoError(t, err)
	assert.ElementsMatch(t, []int32{0, 1}, parts)
	missing, err := tail.Partitions("missing")
	require.NoError(t, err)
	assert.Empty(t, missing)
	oldest, end, err := tail.Offsets("t", 0)
	require.NoError(t, err)
	assert.Equal(t, [2]int64{0, 9}, [2]int64{oldest, end})

	read := func(from, to int64) (vals []string, offs []int64) {
		n, err := tail.Read(context.Background(), "t", 0, from, to, func(m *bulwark.Message) {
			vals, offs = append(vals, string(m.Value)), append(offs, m.Offset)
			assert.Equal(t, int32(0), m.Partition)
		})
		require.NoError(t, err)
		assert.Equal(t, len(vals), n)
		return vals, offs
	}
	vals, offs := read(0, 9)
	assert.Equal(t, []string{"a0", "a1", "x0", "x1", "x2", "a2"}, vals)
	assert.Equal(t, []int64{0, 1, 3, 4, 5, 7}, offs)
	vals, _ = read(1, 5)
	assert.Equal(t, []string{"a1", "x0", "x1"}, vals, "stops before the end asked")
	vals, _ = read(6, 9)
	assert.Equal(t, []string{"a2"}, vals, "from a marker")
	vals, _ = read(9, 9)
	assert.Empty(t, vals)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = tail.Read(ctx, "t", 0, 0, 9, func(*bulwark.Message) {})
	assert.ErrorIs(t, err, context.Canceled)
}
