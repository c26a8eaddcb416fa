package saramax_test

import (
	"context"
	"testing"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Against a log of committed and aborted transactions, NextDelivered
// skips exactly the offsets sarama's consumer reads past without
// delivering: markers always, aborted records under read_committed only.
//
//	p0: a0 a1 C | x0 x1 x2 A | a2 C    (end 9)
//	p1: b0 C                           (end 2)
//	p2: y0 y1 A | y2 A                 (end 5, nothing committed)
func TestNextDeliveredSkipsMarkersAndAbortedRecords(t *testing.T) {
	verifyNoLeaks(t)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 3))
	require.NoError(t, c.WriteTransactions(context.Background(), "t", "tx", []kafkatest.Txn{
		{Records: map[int32][]string{0: {"a0", "a1"}, 1: {"b0"}}, Commit: true},
		{Records: map[int32][]string{0: {"x0", "x1", "x2"}, 2: {"y0", "y1"}}},
		{Records: map[int32][]string{0: {"a2"}}, Commit: true},
		{Records: map[int32][]string{2: {"y2"}}},
	}))
	ends, err := c.EndOffsets(context.Background(), "t", true)
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 9, 1: 2, 2: 5}, ends)

	cases := []struct {
		committed bool
		partition int32
		from      int64
		want      int64
	}{
		{true, 0, sarama.OffsetOldest, 0},
		{true, 0, 1, 1},
		{true, 0, 2, 7}, // marker, aborted transaction, its marker
		{true, 0, 8, 9},
		{true, 0, 9, 9},
		{true, 1, 1, 2},
		{true, 2, sarama.OffsetOldest, 5}, // all aborted
		{true, 2, 0, 5},
		{true, 2, 3, 5},
		{false, 0, 2, 3}, // read_uncommitted delivers aborted records
		{false, 0, 6, 7},
		{false, 0, 8, 9},
		{false, 2, sarama.OffsetOldest, 0},
		{false, 2, 2, 3},
		{false, 2, 4, 5},
		{false, 1, sarama.OffsetNewest, sarama.OffsetNewest}, // unresolved: left alone
	}
	clients := map[bool]sarama.Client{}
	for _, committed := range []bool{true, false} {
		s, err := conn.Build(c.ConnOptions()...)
		require.NoError(t, err)
		cfg, err := saramax.NewConfig(s)
		require.NoError(t, err)
		cfg.Consumer.IsolationLevel = sarama.ReadUncommitted
		if committed {
			cfg.Consumer.IsolationLevel = sarama.ReadCommitted
		}
		cl, err := sarama.NewClient(c.Brokers(), cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = cl.Close() })
		clients[committed] = cl
	}
	for _, tc := range cases {
		got, err := saramax.NextDelivered(clients[tc.committed], "t", tc.partition, tc.from)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "read_committed=%v p%d from %d", tc.committed, tc.partition, tc.from)
	}
}
