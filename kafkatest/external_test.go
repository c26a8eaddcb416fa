package kafkatest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// externalFixture starts an in-process cluster standing in for external
// brokers and points EnvBrokers at it.
func externalFixture(t *testing.T) *kafkatest.Cluster {
	t.Helper()
	t.Setenv(kafkatest.EnvBrokers, "") // the stand-in itself is kfake
	real := kafkatest.NewCluster(t, kafkatest.WithBrokers(2))
	t.Setenv(kafkatest.EnvBrokers, strings.Join(real.Brokers(), ", "))
	require.True(t, kafkatest.External())
	return real
}

func TestExternalBrokersCreateAndDeleteOnlyTheNamedTopics(t *testing.T) {
	real := externalFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, real.CreateTopic(ctx, "users-own", 1, nil))

	first, err := kafkatest.Start(kafkatest.WithTopic("ext", 4))
	require.NoError(t, err)
	assert.Equal(t, real.Brokers(), first.Brokers())
	n, err := real.Partitions(ctx, "ext")
	require.NoError(t, err)
	assert.Equal(t, int32(4), n, "the topic is created on the external brokers")
	cl, err := kgo.NewClient(kgo.SeedBrokers(first.Brokers()...), kgo.DefaultProduceTopic("ext"))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte("left over")}).FirstErr())
	assert.GreaterOrEqual(t, first.LeaderOf("ext", 0), int32(0), "LeaderOf reads metadata")

	// A leftover of the same name (a crashed run's) is deleted first: the
	// next cluster's topic starts empty, with its own partition count.
	second, err := kafkatest.Start(kafkatest.WithTopic("ext", 2))
	require.NoError(t, err)
	n, err = real.Partitions(ctx, "ext")
	require.NoError(t, err)
	assert.Equal(t, int32(2), n)
	recs, err := second.ReadTopic(ctx, "ext")
	require.NoError(t, err)
	assert.Empty(t, recs)

	second.Close()
	_, err = real.Partitions(ctx, "ext")
	assert.ErrorIs(t, err, kerr.UnknownTopicOrPartition, "Close deletes the topics it created")
	n, err = real.Partitions(ctx, "users-own")
	require.NoError(t, err, "a topic the cluster was not told to create stays")
	assert.Equal(t, int32(1), n)
	first.Close() // its topic is gone already: nothing to do
}

func TestExternalBrokersFaultMethodsReturnTheTypedErrorUnderStart(t *testing.T) {
	externalFixture(t)
	c, err := kafkatest.Start()
	require.NoError(t, err)
	defer c.Close()
	for name, call := range map[string]func() error{
		"StopBroker":    func() error { return c.StopBroker(0) },
		"RestartBroker": func() error { return c.RestartBroker(0) },
		"MoveLeader":    func() error { return c.MoveLeader("t", 0, 1) },
	} {
		err := call()
		require.ErrorIs(t, err, kafkatest.ErrNeedsKfake, name)
		var nk *kafkatest.NeedsKfakeError
		require.True(t, errors.As(err, &nk), name)
		assert.Equal(t, name, nk.What)
		assert.Contains(t, err.Error(), kafkatest.EnvBrokers)
	}
	for name, call := range map[string]func(){
		"InjectFault":    func() { c.InjectFault(kafkatest.Fault{}) },
		"FailNext":       func() { c.FailNext(kafkatest.Produce, kafkatest.RequestTimedOut, 1) },
		"HoldNext":       func() { c.HoldNext(kafkatest.Produce) },
		"ShuffleLeaders": c.ShuffleLeaders,
		"Kfake":          func() { c.Kfake() },
	} {
		assert.PanicsWithError(t, (&kafkatest.NeedsKfakeError{What: name}).Error(), call, name)
	}
	for name, opt := range map[string]kafkatest.Option{
		"WithTLS":               kafkatest.WithTLS(),
		"WithSASLUser":          kafkatest.WithSASLUser("PLAIN", "u", "p"),
		"WithMinSessionTimeout": kafkatest.WithMinSessionTimeout(time.Second),
	} {
		_, err := kafkatest.Start(opt)
		assert.ErrorIs(t, err, kafkatest.ErrNeedsKfake, name)
	}
}

func TestExternalBrokersFaultMethodsSkipTheTestUnderNewCluster(t *testing.T) {
	externalFixture(t)
	for name, call := range map[string]func(*kafkatest.Cluster){
		"StopBroker":  func(c *kafkatest.Cluster) { _ = c.StopBroker(0) },
		"InjectFault": func(c *kafkatest.Cluster) { c.InjectFault(kafkatest.Fault{}) },
		"Kfake":       func(c *kafkatest.Cluster) { c.Kfake() },
		"WithTLS":     nil, // the option: NewCluster skips
	} {
		var skipped, after bool
		t.Run(name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			c := kafkatest.NewCluster(t)
			if name == "WithTLS" {
				kafkatest.NewCluster(t, kafkatest.WithTLS())
			} else {
				call(c)
			}
			after = true
		})
		assert.True(t, skipped, name)
		assert.False(t, after, "%s: the test stops at the skip", name)
	}
}

func TestInProcessByDefault(t *testing.T) {
	t.Setenv(kafkatest.EnvBrokers, "")
	assert.False(t, kafkatest.External())
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	assert.NotNil(t, c.Kfake())
	h := c.FailNext(kafkatest.Produce, kafkatest.RequestTimedOut, 1)
	h.Remove()
}
