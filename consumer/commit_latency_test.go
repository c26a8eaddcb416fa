package consumer

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
)

// longPoll is sarama's default Consumer.MaxWaitTime: how long a fetch
// waits on the broker when there is no data.
const longPoll = 500 * time.Millisecond

// Commits go over their own connection, so they do not wait behind a
// long-poll fetch: measured while the consumer is behind (a backlog) and
// while it is caught up (its fetches wait the full MaxWaitTime on the
// broker).
//
// The cluster has one broker, so the group coordinator is always the
// leader of the fetched partition: the only layout in which a commit can
// queue behind a fetch (with three brokers and random leaders that holds in
// about one run of three, and the test would pass without the fix the
// other two). A control measurement first shows that on this cluster a
// commit sent on the fetch's connection does wait behind the long poll, so
// that the bounds below would catch a regression. The bounds are
// correctness bounds with generous slack (kfake answers a commit in a few
// milliseconds), not performance claims.
func TestCommitLatencyBehindAndCaughtUp(t *testing.T) {
	const records = 20_000
	kafkatest.SkipIfExternal(t, "needs a one-broker cluster (coordinator and leader on one connection); WithBrokers does not size external brokers")
	cl := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTopic("in", 1))
	produce(t, cl, "in", records, nil)

	control := sharedConnectionCommitLatencies(t, cl, "in", 5)
	t.Logf("control, commits on the fetch connection while it long-polls: p50 %v, all %v", median(control), control)
	if p50 := median(control); p50 < longPoll/4 {
		t.Fatalf("control: commits on the fetch connection took p50 %v, want at least %v: "+
			"they did not wait behind the long poll, so this test cannot tell a regression", p50, longPoll/4)
	}

	var handled atomic.Int64
	h := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		if handled.Add(1)%10 == 0 {
			time.Sleep(time.Millisecond) // stay behind for a couple of seconds
		}
		return nil
	})
	c, err := New(cl.Brokers(), "g-latency", []string{"in"}, h, fastOpts(cl, WithCommitInterval(50*time.Millisecond),
		// Fetch about as fast as records are handled, so that there is a
		// backlog on the broker while behind.
		WithMaxInFlight(1000, DefaultMaxInFlightBytes))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)

	// sample records the latency of each new commit (Stats reports the
	// last one; commits come every 50 ms, sampling every 5 ms).
	var seen int64
	sample := func(into *[]time.Duration) Stats {
		st := c.Stats()
		if st.Commits != seen && st.Commits > 0 {
			seen = st.Commits
			*into = append(*into, st.LastCommitLatency)
		}
		return st
	}
	var behind []time.Duration
	lagSeen := int64(0)
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := sample(&behind)
		if p := st.Partitions; len(p) == 1 {
			lagSeen = max(lagSeen, p[0].Lag)
			if p[0].Committed == records {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog of %d records not committed within 60s: %+v", records, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if lagSeen == 0 {
		t.Fatal("the lag was never above 0: the consumer was never behind")
	}
	if len(behind) < 5 {
		t.Fatalf("only %d commits sampled while behind", len(behind))
	}

	// Now caught up: every fetch long-polls. Produce a trickle so commits
	// keep happening.
	var caughtUp []time.Duration
	for range 10 {
		produce(t, cl, "in", 1, nil)
		for end := time.Now().Add(120 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			sample(&caughtUp)
		}
	}
	after := c.Stats()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("commit latency behind (max lag %d): p50 %v, max %v over %d commits sampled", lagSeen, median(behind), slices.Max(behind), len(behind))
	t.Logf("commit latency caught up: p50 %v, max %v over %d commits sampled; %d commits in all (%d failed)",
		median(caughtUp), slices.Max(caughtUp), len(caughtUp), after.Commits, after.CommitFailures)
	if len(caughtUp) < 5 {
		t.Fatalf("only %d commits sampled while caught up", len(caughtUp))
	}
	for phase, lat := range map[string][]time.Duration{"behind": behind, "caught up": caughtUp} {
		if p50 := median(lat); p50 > longPoll/10 {
			t.Fatalf("%s: commit latency p50 %v, want at most %v: commits wait behind fetches", phase, p50, longPoll/10)
		}
		if m := slices.Max(lat); m > longPoll/2 {
			t.Fatalf("%s: a commit took %v, want at most %v: it waited behind a long-poll fetch", phase, m, longPoll/2)
		}
	}
}

// sharedConnectionCommitLatencies runs a plain sarama partition consumer
// at the end of topic/0 (so its fetches long-poll) and times n offset
// commits sent through the same client, that is on the connection the
// fetches use, as sarama does by default.
func sharedConnectionCommitLatencies(t *testing.T, cl *kafkatest.Cluster, topic string, n int) []time.Duration {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.MaxWaitTime = longPoll
	client, err := sarama.NewClient(cl.Brokers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = consumer.Close() }()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	const group = "g-latency-control"
	coordinator, err := client.Coordinator(group)
	if err != nil {
		t.Fatal(err)
	}
	leader, err := client.Leader(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if coordinator != leader {
		t.Fatalf("control: coordinator %d and leader %d are not the same connection", coordinator.ID(), leader.ID())
	}
	time.Sleep(longPoll) // let the fetches start
	var lat []time.Duration
	for i := range n {
		// Send at different points of the poll.
		time.Sleep(time.Duration(i*97%300) * time.Millisecond)
		req := sarama.NewOffsetCommitRequest(cfg, group)
		req.ConsumerGroupGeneration = -1
		req.AddBlock(topic, 0, int64(i), 0, "")
		start := time.Now()
		resp, err := coordinator.CommitOffset(req)
		if err != nil {
			t.Fatalf("control commit: %v", err)
		}
		if kerr := resp.Errors[topic][0]; kerr != sarama.ErrNoError {
			t.Fatalf("control commit: %v", kerr)
		}
		lat = append(lat, time.Since(start))
	}
	return lat
}

// median returns the middle of ds (the upper middle for an even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
