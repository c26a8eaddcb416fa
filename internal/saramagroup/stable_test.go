package saramagroup_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramagroup"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// txnProducer is a sarama transactional producer on c, closed at cleanup.
func txnProducer(t *testing.T, c *kafkatest.Cluster, id string) sarama.SyncProducer {
	t.Helper()
	cs, err := conn.Build(c.ConnOptions()...)
	require.NoError(t, err)
	cfg, err := saramax.NewConfig(cs)
	require.NoError(t, err)
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = id
	cfg.Net.MaxOpenRequests = 1
	a := saramax.MakeAbortable(cfg)
	p, err := sarama.NewSyncProducer(c.Brokers(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		a.Abort() // a commit still held must not hold up the cleanup
		_ = p.Close()
	})
	return p
}

// StableOffsets does not answer while a transaction that commits offsets
// of the group is pending (its EndTxn held): it keeps asking, bounded by
// its context; once the transaction ends it returns the offset the
// transaction committed.
func TestStableOffsetsWaitOutPendingTransaction(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 2), kafkatest.WithTopic("out", 1))
	g := newGroup(t, c, "g", saramagroup.Settings{ReadCommitted: true})
	parts := []saramagroup.TopicPartition{{Topic: "in", Partition: 0}, {Topic: "in", Partition: 1}}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A member makes the group exist (kfake answers GROUP_ID_NOT_FOUND
	// for an unknown group).
	h := newHandler()
	consumed := consume(ctx, g, []string{"in"}, h)
	defer func() { cancel(); <-consumed }()
	recv(t, h.setup, 30*time.Second, "the member's session")
	got, err := g.StableOffsets(ctx, parts, nil)
	require.NoError(t, err)
	require.Equal(t, map[saramagroup.TopicPartition]int64{parts[0]: saramagroup.NoOffset, parts[1]: saramagroup.NoOffset}, got)

	p := txnProducer(t, c, "txn-1")
	require.NoError(t, p.BeginTxn())
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: "out", Value: sarama.StringEncoder("x")})
	require.NoError(t, err)
	require.NoError(t, p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{
		"in": {{Partition: 0, Offset: 7}},
	}, "g"))
	arrived, release := c.HoldNext(kafkatest.EndTxn)
	defer release()
	committed := make(chan error, 1)
	go func() { committed <- p.CommitTxn() }()
	recv(t, arrived, 10*time.Second, "EndTxn")

	// Bounded by its context while the transaction is pending.
	var unstable atomic.Int32
	short, cancelShort := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	_, err = g.StableOffsets(short, parts, func() { unstable.Add(1) })
	took := time.Since(start)
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "err = %v", err)
	require.Less(t, took, 2*time.Second, "StableOffsets outlived its context")
	require.Positive(t, unstable.Load(), "no UNSTABLE answer while the transaction was pending")

	// Waits while pending, answers once the transaction ends.
	type answer struct {
		offs map[saramagroup.TopicPartition]int64
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		offs, err := g.StableOffsets(ctx, parts, nil)
		answers <- answer{offs, err}
	}()
	select {
	case a := <-answers:
		t.Fatalf("StableOffsets answered while the transaction was pending: %v, %v", a.offs, a.err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	require.NoError(t, recv(t, committed, 10*time.Second, "CommitTxn"))
	a := recv(t, answers, 5*time.Second, "StableOffsets after the transaction ended")
	require.NoError(t, a.err)
	require.Equal(t, int64(7), a.offs[parts[0]])
	require.Equal(t, saramagroup.NoOffset, a.offs[parts[1]])
}
