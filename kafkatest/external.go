package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EnvBrokers names the environment variable that points [NewCluster] and
// [Start] at an external Kafka (or Redpanda) instead of an in-process kfake:
// comma-separated host:port, e.g. "127.0.0.1:9092".
//
// On an external cluster a Cluster creates the topics given with [WithTopic]
// and [Cluster.CreateTopic], first deleting a leftover of the same name (and
// waiting until it is gone), and deletes them again at Close; it never
// touches a topic it was not told to create. Run one test package at a time
// there (go test -p 1): packages use the same topic names. What needs kfake
// (fault injection, broker stops, leader moves, kfake's TLS and SASL
// listeners, a lowered minimum session timeout) skips the test under
// [NewCluster] and is a [*NeedsKfakeError] under [Start].
const EnvBrokers = "BULWARK_TEST_BROKERS"

// ExternalBrokers returns the brokers named by [EnvBrokers], or nil when it
// is unset or empty.
func ExternalBrokers() []string {
	var out []string
	for _, b := range strings.Split(os.Getenv(EnvBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// External reports whether clusters connect to external brokers
// ([EnvBrokers] is set), for a test that must skip there for a reason of its
// own (timing that only kfake keeps, say).
func External() bool { return len(ExternalBrokers()) > 0 }

// SkipIfExternal skips t when clusters connect to external brokers, with
// why as the reason.
func SkipIfExternal(t testing.TB, why string) {
	t.Helper()
	if External() {
		t.Skipf("kafkatest: %s; %s is set", why, EnvBrokers)
	}
}

// ErrNeedsKfake is the sentinel of [NeedsKfakeError].
var ErrNeedsKfake = errors.New("kafkatest: needs kfake")

// NeedsKfakeError says a Cluster connected to external brokers was asked
// for what only an in-process kfake can do.
type NeedsKfakeError struct {
	What string // the method or option, e.g. "StopBroker", "WithTLS"
}

func (e *NeedsKfakeError) Error() string {
	return fmt.Sprintf("kafkatest: %s needs kfake's fault injection; %s is set", e.What, EnvBrokers)
}

// Unwrap returns [ErrNeedsKfake].
func (e *NeedsKfakeError) Unwrap() error { return ErrNeedsKfake }

// needsKfake returns nil on a kfake cluster. On an external one it skips
// the test of a cluster from NewCluster (so it must be called from the test's
// goroutine, as t.Skip must) and otherwise returns a *NeedsKfakeError.
func (c *Cluster) needsKfake(what string) error {
	if c.kf != nil {
		return nil
	}
	if c.tb != nil {
		c.tb.Helper()
		c.tb.Skipf("kafkatest: %s needs kfake's fault injection; %s is set", what, EnvBrokers)
	}
	return &NeedsKfakeError{What: what}
}

// mustKfake is needsKfake for methods without an error result: under Start
// they panic with the *NeedsKfakeError.
func (c *Cluster) mustKfake(what string) {
	if c.tb != nil {
		c.tb.Helper()
	}
	if err := c.needsKfake(what); err != nil {
		panic(err)
	}
}

// startExternal is the kfake-free start: check what the options ask for is
// possible, learn the brokers, create the topics.
func startExternal(cfg config, brokers []string) (*Cluster, error) {
	switch {
	case cfg.tls:
		return nil, &NeedsKfakeError{What: "WithTLS"}
	case len(cfg.users) > 0:
		return nil, &NeedsKfakeError{What: "WithSASLUser"}
	case cfg.minSessionTimeout > 0:
		return nil, &NeedsKfakeError{What: "WithMinSessionTimeout"}
	}
	c := &Cluster{cfg: cfg, brokers: brokers, nodes: map[int32]string{}, created: map[string]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	meta, err := c.metadata(ctx, nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("kafkatest: external brokers %v: %w", brokers, err)
	}
	for _, b := range meta.Brokers {
		c.nodes[b.NodeID] = fmt.Sprintf("%s:%d", b.Host, b.Port)
	}
	for _, t := range cfg.topicOrder {
		if err := c.CreateTopic(ctx, t, cfg.topics[t], nil); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// metadata asks for topics (nil: none, only brokers).
func (c *Cluster) metadata(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	return req.RequestWith(ctx, cl)
}

// topicState is what metadata says of topic: absent, or present with n
// partitions of which ready have a leader.
func (c *Cluster) topicState(ctx context.Context, topic string) (exists bool, n, ready int, err error) {
	meta, err := c.metadata(ctx, []string{topic})
	if err != nil {
		return false, 0, 0, err
	}
	for _, t := range meta.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		switch err := kerr.ErrorForCode(t.ErrorCode); err {
		case nil:
		case kerr.UnknownTopicOrPartition:
			return false, 0, 0, nil
		case kerr.LeaderNotAvailable: // being created or deleted
			return true, 0, 0, nil
		default:
			return false, 0, 0, err
		}
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 && p.Leader >= 0 {
				ready++
			}
		}
		return true, len(t.Partitions), ready, nil
	}
	return false, 0, 0, nil
}

// deleteTopic deletes topic if it exists and waits until metadata no longer
// has it, so a topic created next under its name starts empty.
func (c *Cluster) deleteTopic(ctx context.Context, topic string) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TopicNames = []string{topic}
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("kafkatest: delete topic %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && err != kerr.UnknownTopicOrPartition {
			return fmt.Errorf("kafkatest: delete topic %s: %w", topic, err)
		}
	}
	return c.waitTopic(ctx, topic, func(exists bool, _, _ int) bool { return !exists })
}

// waitTopic polls metadata until done holds, bounded by ctx.
func (c *Cluster) waitTopic(ctx context.Context, topic string, done func(exists bool, n, ready int) bool) error {
	for {
		exists, n, ready, err := c.topicState(ctx, topic)
		if err == nil && done(exists, n, ready) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkatest: topic %s: exists %v, %d partitions, %d with a leader (%v): %w", topic, exists, n, ready, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// prepareExternalTopic deletes a leftover of a topic this cluster has not
// created yet (a crashed run's, or the previous test's).
func (c *Cluster) prepareExternalTopic(ctx context.Context, topic string) error {
	c.mu.Lock()
	mine := c.created[topic]
	c.mu.Unlock()
	if mine {
		return nil
	}
	return c.deleteTopic(ctx, topic)
}

// deleteCreated deletes the topics this cluster created, bounded.
func (c *Cluster) deleteCreated() {
	c.mu.Lock()
	topics := make([]string, 0, len(c.created))
	for t := range c.created {
		topics = append(topics, t)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, t := range topics {
		_ = c.deleteTopic(ctx, t) // best effort: the next run deletes leftovers first
	}
}

// externalLeaderOf is LeaderOf from metadata, -1 when it cannot tell.
func (c *Cluster) externalLeaderOf(topic string, partition int32) int32 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	meta, err := c.metadata(ctx, []string{topic})
	if err != nil {
		return -1
	}
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			if t.Topic != nil && *t.Topic == topic && p.Partition == partition && p.ErrorCode == 0 {
				return p.Leader
			}
		}
	}
	return -1
}
