package provision_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/provision"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var quiet = provision.WithLogger(slog.New(slog.DiscardHandler))

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// topicConfigs reads a topic's dynamic configs with a franz-go client of
// its own, so the check does not depend on the code under test.
func topicConfigs(t *testing.T, c *kafkatest.Cluster, topic string) map[string]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...))
	require.NoError(t, err)
	defer cl.Close()
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeTopic
	res.ResourceName = topic
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(testContext(t), cl)
	require.NoError(t, err)
	require.Len(t, resp.Resources, 1)
	require.NoError(t, kerr.ErrorForCode(resp.Resources[0].ErrorCode))
	out := map[string]string{}
	for _, rc := range resp.Resources[0].Configs {
		if rc.Source == kmsg.ConfigSourceDynamicTopicConfig && rc.Value != nil {
			out[rc.Name] = *rc.Value
		}
	}
	return out
}

var ordersTopic = provision.Topic{
	Name:              "orders",
	Partitions:        6,
	ReplicationFactor: 3,
	Configs: map[string]string{
		"cleanup.policy":      "compact",
		"min.insync.replicas": "2",
		"retention.ms":        "604800000",
	},
}

func TestEnsureCreatesMissingTopicsThenLeavesThem(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t)
	events := provision.Topic{Name: "events", Partitions: 3, ReplicationFactor: 1}

	rep, err := provision.Ensure(ctx, c.Brokers(), []provision.Topic{ordersTopic, events}, quiet)
	require.NoError(t, err)
	assert.Equal(t, []string{"orders", "events"}, rep.Created)
	assert.Empty(t, rep.Existing)
	assert.Empty(t, rep.Drift)

	n, err := c.Partitions(ctx, "orders")
	require.NoError(t, err)
	assert.Equal(t, int32(6), n)
	n, err = c.Partitions(ctx, "events")
	require.NoError(t, err)
	assert.Equal(t, int32(3), n)
	assert.Equal(t, ordersTopic.Configs, topicConfigs(t, c, "orders"))

	// The second run finds everything in place and changes nothing.
	rep, err = provision.Ensure(ctx, c.Brokers(), []provision.Topic{ordersTopic, events}, quiet)
	require.NoError(t, err)
	assert.Empty(t, rep.Created)
	assert.Equal(t, []string{"orders", "events"}, rep.Existing)
	assert.Empty(t, rep.Drift)
}

func TestEnsureUsesBrokerDefaultsForZeroCounts(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t)
	rep, err := provision.Ensure(ctx, c.Brokers(), []provision.Topic{{Name: "defaults"}}, quiet)
	require.NoError(t, err)
	assert.Equal(t, []string{"defaults"}, rep.Created)
	n, err := c.Partitions(ctx, "defaults")
	require.NoError(t, err)
	assert.Positive(t, n)

	// Any count is accepted on an existing topic when none is declared.
	rep, err = provision.Ensure(ctx, c.Brokers(), []provision.Topic{{Name: "defaults"}}, quiet)
	require.NoError(t, err)
	assert.Empty(t, rep.Drift)
}

func TestEnsureReportsPartitionDriftWithoutChangingTheTopic(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("payments", 3))

	for _, want := range []int32{6, 2} { // more and fewer than the topic has
		rep, err := provision.Ensure(ctx, c.Brokers(), []provision.Topic{{Name: "payments", Partitions: want}}, quiet)
		require.Error(t, err)
		assert.ErrorIs(t, err, provision.ErrDrift)
		var de *provision.DriftError
		require.ErrorAs(t, err, &de)
		wantDiff := provision.Difference{Topic: "payments", Setting: "partitions", Want: itoa(want), Have: "3"}
		assert.Equal(t, []provision.Difference{wantDiff}, de.Differences)
		assert.Equal(t, de.Differences, rep.Drift)
		assert.Equal(t, []string{"payments"}, rep.Existing)
		assert.Contains(t, err.Error(), "payments: partitions: want "+itoa(want)+", have 3")

		n, err := c.Partitions(ctx, "payments")
		require.NoError(t, err)
		assert.Equal(t, int32(3), n, "Ensure must never change an existing topic")
	}
}

func TestEnsureReportsConfigAndReplicationDrift(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t)
	require.NoError(t, c.CreateTopic(ctx, "audit", 1, map[string]string{"cleanup.policy": "delete", "retention.ms": "1000"}))

	declared := provision.Topic{
		Name:              "audit",
		Partitions:        1,
		ReplicationFactor: 3, // kafkatest created it with one replica
		Configs: map[string]string{
			"cleanup.policy": "compact",
			"retention.ms":   "1000", // matches
		},
	}
	_, err := provision.Ensure(ctx, c.Brokers(), []provision.Topic{declared}, quiet)
	var de *provision.DriftError
	require.ErrorAs(t, err, &de)
	assert.ElementsMatch(t, []provision.Difference{
		{Topic: "audit", Setting: "replication.factor", Want: "3", Have: "1"},
		{Topic: "audit", Setting: "cleanup.policy", Want: "compact", Have: "delete"},
	}, de.Differences)
	assert.Equal(t, map[string]string{"cleanup.policy": "delete", "retention.ms": "1000"}, topicConfigs(t, c, "audit"),
		"Ensure must never alter an existing topic's configs")
}

func TestEnsureComparesListConfigsAsSets(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t)
	require.NoError(t, c.CreateTopic(ctx, "both", 1, map[string]string{"cleanup.policy": "delete,compact"}))
	_, err := provision.Ensure(ctx, c.Brokers(), []provision.Topic{{Name: "both", Configs: map[string]string{"cleanup.policy": "compact, delete"}}}, quiet)
	assert.NoError(t, err)
}

func TestEnsureDriftAsWarning(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("payments", 3))
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	rep, err := provision.Ensure(ctx, c.Brokers(),
		[]provision.Topic{{Name: "payments", Partitions: 6}, {Name: "fresh", Partitions: 1, ReplicationFactor: 1}},
		provision.WithDriftAsWarning(), provision.WithLogger(logger))
	require.NoError(t, err)
	assert.Equal(t, []string{"fresh"}, rep.Created, "drift on one topic must not stop the others being created")
	assert.Equal(t, []provision.Difference{{Topic: "payments", Setting: "partitions", Want: "6", Have: "3"}}, rep.Drift)
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "topic=payments setting=partitions want=6 have=3")
	assert.Contains(t, logs.String(), `msg="provision: created topic" topic=fresh`)
}

// Two services start at once and race to create the same topics: both
// succeed, each topic is created once, and the loser checks the winner's
// topic like any existing one.
func TestConcurrentEnsureBothSucceed(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t)
	kf := c.Kfake()

	// Hold the first CreateTopics until the second arrives, so both
	// callers have seen the topic missing: a real race, every run.
	var creates atomic.Int32
	release := make(chan struct{})
	kf.ControlKey(int16(kmsg.CreateTopics), func(kmsg.Request) (kmsg.Response, error, bool) {
		switch creates.Add(1) {
		case 1:
			kf.SleepControl(func() { <-release })
		case 2:
			close(release)
			kf.DropControl()
		}
		return nil, nil, false
	})

	topics := []provision.Topic{ordersTopic}
	var wg sync.WaitGroup
	reports := make([]provision.Report, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = provision.Ensure(ctx, c.Brokers(), topics, quiet)
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	assert.Equal(t, int32(2), creates.Load(), "both callers must have tried to create the topic")
	created := append(append([]string{}, reports[0].Created...), reports[1].Created...)
	existing := append(append([]string{}, reports[0].Existing...), reports[1].Existing...)
	assert.Equal(t, []string{"orders"}, created, "exactly one caller creates the topic")
	assert.Equal(t, []string{"orders"}, existing, "the other finds it existing")
	assert.Empty(t, reports[0].Drift)
	assert.Empty(t, reports[1].Drift)
	n, err := c.Partitions(ctx, "orders")
	require.NoError(t, err)
	assert.Equal(t, int32(6), n)
}

// The loser of a race still reports drift when the winner declared the
// topic differently.
func TestConcurrentEnsureLoserReportsDrift(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t)
	kf := c.Kfake()
	var creates atomic.Int32
	release := make(chan struct{})
	kf.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		switch creates.Add(1) {
		case 1:
			kf.SleepControl(func() { <-release })
		case 2:
			close(release)
			kf.DropControl()
		}
		return nil, nil, false
	})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, parts := range []int32{4, 8} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = provision.Ensure(ctx, c.Brokers(), []provision.Topic{{Name: "shared", Partitions: parts}}, quiet)
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			assert.ErrorIs(t, err, provision.ErrDrift)
		}
	}
	assert.Equal(t, 1, failed, "exactly the loser reports drift: %v", errs)
}

func TestEnsureRejectsBadDeclarationsBeforeConnecting(t *testing.T) {
	cases := map[string]provision.Topic{
		"empty name":             {Name: ""},
		"bad character":          {Name: "orders/v1"},
		"dot":                    {Name: "."},
		"too long":               {Name: string(bytes.Repeat([]byte("a"), 250))},
		"negative partitions":    {Name: "t", Partitions: -1},
		"negative replication":   {Name: "t", ReplicationFactor: -2},
		"empty config name":      {Name: "t", Configs: map[string]string{"": "x"}},
		"empty config value":     {Name: "t", Configs: map[string]string{"retention.ms": ""}},
		"min.insync not numeric": {Name: "t", Configs: map[string]string{"min.insync.replicas": "two"}},
		"min.insync above RF":    {Name: "t", ReplicationFactor: 2, Configs: map[string]string{"min.insync.replicas": "3"}},
	}
	for name, topic := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := provision.Ensure(context.Background(), []string{"127.0.0.1:1"}, []provision.Topic{topic}, quiet)
			assert.ErrorIs(t, err, provision.ErrInvalidTopic)
			assert.Less(t, time.Since(start), time.Second, "validation must not dial")
		})
	}
	_, err := provision.Ensure(context.Background(), []string{"127.0.0.1:1"}, []provision.Topic{{Name: "t"}, {Name: "t"}}, quiet)
	assert.ErrorIs(t, err, provision.ErrInvalidTopic)
}

func TestEnsureRejectsBadOptions(t *testing.T) {
	ctx := context.Background()
	topics := []provision.Topic{{Name: "t"}}
	_, err := provision.Ensure(ctx, nil, topics)
	assert.ErrorIs(t, err, provision.ErrInvalidConfig)
	_, err = provision.Ensure(ctx, []string{"127.0.0.1:1"}, topics, provision.WithLogger(nil))
	assert.ErrorIs(t, err, provision.ErrInvalidConfig)
	_, err = provision.Ensure(ctx, []string{"127.0.0.1:1"}, topics, provision.WithCreateTimeout(0))
	assert.ErrorIs(t, err, provision.ErrInvalidConfig)
	_, err = provision.Ensure(ctx, []string{"127.0.0.1:1"}, topics, provision.WithSaramaConfig(nil))
	assert.ErrorIs(t, err, provision.ErrInvalidConfig)

	_, err = provision.Ensure(ctx, []string{"127.0.0.1:1"}, topics, provision.WithConnection(conn.WithSASL("KERBEROS", "u", "p")))
	assert.ErrorIs(t, err, provision.ErrInvalidConfig)
	assert.ErrorIs(t, err, conn.ErrInvalidSettings)

	// The escape hatch runs before validation, so it cannot smuggle in a
	// broken config.
	_, err = provision.Ensure(ctx, []string{"127.0.0.1:1"}, topics, provision.WithSaramaConfig(func(c *sarama.Config) {
		c.Net.DialTimeout = 0
	}))
	assert.ErrorIs(t, err, provision.ErrInvalidConfig)
}

func TestEnsureAppliesSaramaHook(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t)
	var called atomic.Bool
	_, err := provision.Ensure(ctx, c.Brokers(), []provision.Topic{{Name: "t", Partitions: 1}}, quiet,
		provision.WithSaramaConfig(func(cfg *sarama.Config) {
			called.Store(true)
			cfg.Admin.Timeout = 5 * time.Second
		}))
	require.NoError(t, err)
	assert.True(t, called.Load())
}

func TestEnsureOverSASLAndTLS(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t, kafkatest.WithTLS(), kafkatest.WithSASLUser(conn.SASLSCRAMSHA512, "provisioner", "pw"))
	rep, err := provision.Ensure(ctx, c.Brokers(), []provision.Topic{ordersTopic}, quiet, provision.WithConnection(c.ConnOptions()...))
	require.NoError(t, err)
	assert.Equal(t, []string{"orders"}, rep.Created)

	_, err = provision.Ensure(ctx, c.Brokers(), []provision.Topic{ordersTopic}, quiet,
		provision.WithConnection(conn.WithTLS(c.ClientTLS()), conn.WithSASL(conn.SASLSCRAMSHA512, "provisioner", "wrong")))
	require.Error(t, err)
	assert.ErrorIs(t, err, conn.ErrAuthentication)
	assert.Contains(t, err.Error(), "provisioner (SCRAM-SHA-512)")
}

func TestEnsureUnreachableCluster(t *testing.T) {
	_, err := provision.Ensure(testContext(t), []string{"127.0.0.1:1"}, []provision.Topic{{Name: "t"}}, quiet,
		provision.WithConnection(conn.WithMetadataRetries(1), conn.WithRetryBackoff(10*time.Millisecond)))
	require.Error(t, err)
	assert.ErrorIs(t, err, conn.ErrUnreachable)
}

// sarama's admin calls take no context; cancelling must still return
// promptly, here while the broker sits on the CreateTopics request.
func TestEnsureStopsWhenContextEnds(t *testing.T) {
	c := kafkatest.NewCluster(t)
	kf := c.Kfake()
	held := make(chan struct{})
	var once sync.Once
	kf.ControlKey(int16(kmsg.CreateTopics), func(kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		once.Do(func() { close(held) })
		kf.SleepControl(func() { <-t.Context().Done() })
		return nil, nil, false
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-held; cancel() }()

	done := make(chan error, 1)
	go func() {
		_, err := provision.Ensure(ctx, c.Brokers(), []provision.Topic{{Name: "slow", Partitions: 1}}, quiet)
		done <- err
	}()
	select {
	case err := <-done:
		assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Ensure did not return after its context was cancelled")
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// A real broker answers LEADER_NOT_AVAILABLE for a topic created a moment
// ago; Ensure waits for the topic instead of failing. kfake's faults set
// partition-level codes only, so the first answers naming the topic are
// replaced with a topic-level error here.
func TestEnsureWaitsForANewTopicToGetLeaders(t *testing.T) {
	ctx := testContext(t)
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1))
	kf := c.Kfake()
	var answered atomic.Int32
	kf.ControlKey(int16(kmsg.Metadata), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		req := kreq.(*kmsg.MetadataRequest)
		if len(req.Topics) != 1 || req.Topics[0].Topic == nil || *req.Topics[0].Topic != "fresh" || answered.Load() >= 2 {
			return nil, nil, false
		}
		answered.Add(1)
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		host, portText, _ := net.SplitHostPort(c.Brokers()[0])
		port, _ := strconv.Atoi(portText)
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = 0, host, int32(port)
		resp.Brokers = append(resp.Brokers, b)
		resp.ControllerID = 0
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr("fresh")
		rt.ErrorCode = kerr.LeaderNotAvailable.Code
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})
	rep, err := provision.Ensure(ctx, c.Brokers(), []provision.Topic{{Name: "fresh", Partitions: 2}}, quiet)
	require.NoError(t, err)
	assert.Equal(t, int32(2), answered.Load(), "both the first look and the first wait saw LEADER_NOT_AVAILABLE")
	assert.Equal(t, []string{"fresh"}, rep.Created)
	n, err := c.Partitions(ctx, "fresh")
	require.NoError(t, err)
	assert.Equal(t, int32(2), n)
}
