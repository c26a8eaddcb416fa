package kafkatest_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

func client(t *testing.T, c *kafkatest.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers()...)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func TestReadTopicReturnsEveryRecordWithHeaders(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 3))
	cl := client(t, c)
	var recs []*kgo.Record
	for i := 0; i < 90; i++ {
		recs = append(recs, &kgo.Record{Topic: "t", Partition: int32(i % 3), Value: []byte(fmt.Sprint(i)),
			Headers: []kgo.RecordHeader{{Key: "n", Value: []byte(fmt.Sprint(i))}}})
	}
	cl2 := client(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	_ = cl
	produce(t, cl2, recs...)

	got, err := c.ReadTopic(context.Background(), "t")
	require.NoError(t, err)
	require.Len(t, got, 90)
	for i, m := range got {
		if i > 0 && got[i-1].Partition == m.Partition {
			assert.Equal(t, got[i-1].Offset+1, m.Offset)
		}
		v, ok := m.Header("n")
		require.True(t, ok)
		assert.Equal(t, string(m.Value), string(v))
	}
}

func TestReadCommittedHidesAbortedTransactions(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 2))
	cl := client(t, c, kgo.TransactionalID("tx-1"))
	ctx := context.Background()
	for round, commit := range []bool{true, false, true} {
		require.NoError(t, cl.BeginTransaction())
		for i := 0; i < 5; i++ {
			produce(t, cl, &kgo.Record{Topic: "t", Value: []byte(fmt.Sprintf("%d-%d", round, i))})
		}
		require.NoError(t, cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)))
	}
	committed, err := c.ReadTopic(ctx, "t", kafkatest.ReadCommitted())
	require.NoError(t, err)
	assert.Len(t, committed, 10)
	for _, m := range committed {
		assert.NotEqual(t, byte('1'), m.Value[0], "record %s of the aborted transaction is visible", m.Value)
	}
	all, err := c.ReadTopic(ctx, "t")
	require.NoError(t, err)
	assert.Len(t, all, 15)
}

func TestFailNextFailsExactlyThatMany(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	cl := client(t, c, kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	f := c.FailNext(kafkatest.Produce, kafkatest.NotLeaderOrFollower, 2)
	produce(t, cl, &kgo.Record{Topic: "t", Value: []byte("x")})
	assert.Equal(t, 2, f.Hits())
	got, err := c.ReadTopic(context.Background(), "t")
	require.NoError(t, err)
	assert.Len(t, got, 1)
}

func TestHoldNextHoldsUntilReleased(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	cl := client(t, c)
	arrived, release := c.HoldNext(kafkatest.Produce)
	done := make(chan error, 1)
	go func() {
		done <- cl.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr()
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("produce request never arrived")
	}
	select {
	case err := <-done:
		t.Fatalf("produce finished while held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	require.NoError(t, <-done)
}

func TestDialerKillRefusesAndCloses(t *testing.T) {
	c := kafkatest.NewCluster(t)
	d := kafkatest.NewDialer()
	conn, err := d.Dial("tcp", c.Brokers()[0])
	require.NoError(t, err)
	d.Kill()
	_, err = conn.Read(make([]byte, 1))
	assert.Error(t, err, "a killed dialer closes its connections")
	_, err = d.Dial("tcp", c.Brokers()[0])
	assert.ErrorIs(t, err, kafkatest.ErrDialRefused)
	d.Revive()
	conn, err = d.Dial("tcp", c.Brokers()[0])
	require.NoError(t, err)
	conn.Close()

	d.Cut(c.Brokers()[1])
	_, err = d.Dial("tcp", c.Brokers()[1])
	assert.ErrorIs(t, err, kafkatest.ErrDialRefused)
	d.Restore(c.Brokers()[1])
	conn, err = d.Dial("tcp", c.Brokers()[1])
	require.NoError(t, err)
	conn.Close()
}

func TestStopAndRestartBroker(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 3))
	addr := c.BrokerAddr(1)
	require.NoError(t, c.StopBroker(1))
	_, err := net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "a stopped broker does not accept connections")
	for p := int32(0); p < 3; p++ {
		assert.NotEqual(t, int32(1), c.LeaderOf("t", p))
	}
	require.NoError(t, c.RestartBroker(1))
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err)
	conn.Close()
	require.NoError(t, c.MoveLeader("t", 0, 1))
	assert.Equal(t, int32(1), c.LeaderOf("t", 0))
}

func TestTLSAndSASL(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTLS(), kafkatest.WithSASLUser("SCRAM-SHA-512", "alice", "s3cret"),
		kafkatest.WithTopic("t", 1))
	require.NotNil(t, c.ClientTLS())
	require.Len(t, c.ConnOptions(), 2)
	// The PEM certificate is what a CA file would hold: it alone is trusted.
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(c.CACertPEM()))
	assert.True(t, pool.Equal(c.ClientTLS().RootCAs))
	assert.Nil(t, kafkatest.NewCluster(t).CACertPEM(), "plaintext cluster")
	// The cluster's own helpers log in with the first user over TLS.
	n, err := c.Partitions(context.Background(), "t")
	require.NoError(t, err)
	assert.Equal(t, int32(1), n)

	// A plaintext client gets nowhere.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	plain := client(t, c, kgo.RequestRetries(0))
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, plain)
	assert.Error(t, err)
}

func TestCreateTopicAndCommittedOffsets(t *testing.T) {
	c := kafkatest.NewCluster(t)
	ctx := context.Background()
	require.NoError(t, c.CreateTopic(ctx, "compacted", 4, map[string]string{"cleanup.policy": "compact"}))
	n, err := c.Partitions(ctx, "compacted")
	require.NoError(t, err)
	assert.Equal(t, int32(4), n)
	assert.Error(t, c.CreateTopic(ctx, "compacted", 4, nil), "creating an existing topic fails")

	offs, err := c.CommittedOffsets(ctx, "no-such-group", "compacted")
	require.NoError(t, err)
	assert.Empty(t, offs)

	cl := client(t, c, kgo.MaxVersions(kversion.V3_6_0())) // by name, not topic ID
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = "g", -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "compacted"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 2, 42
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Zero(t, resp.Topics[0].Partitions[0].ErrorCode)
	offs, err = c.CommittedOffsets(ctx, "g", "compacted")
	require.NoError(t, err)
	assert.Equal(t, map[int32]int64{2: 42}, offs)
}
