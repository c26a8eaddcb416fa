package saramagroup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/joinerr"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Group is one member of a consumer group.
type Group struct {
	group        string
	client       sarama.Client
	cg           sarama.ConsumerGroup
	commitClient sarama.Client
	stopMetrics  func() // ends the reporting of the clients' broker figures
	instanceID   *string

	// aborters cut the connections of both clients: sarama's blocking
	// calls take no context, so cutting is what bounds a stop when the
	// network hangs.
	aborters []*saramax.Aborter

	// commitSlot serializes commits: a commit abandoned by its caller
	// keeps the slot until sarama returns, so a later commit can never be
	// overtaken by an older one.
	commitSlot chan struct{}
	commits    sync.WaitGroup
}

// New connects the member's client and the separate commit client. It
// does not join the group; [Group.Consume] does.
func New(brokers []string, group string, config *Config) (*Group, error) {
	g := &Group{group: group, commitSlot: make(chan struct{}, 1)}
	clientCfg, commitCfg := g.abortable(config.sarama), g.abortable(config.sarama)
	client, err := sarama.NewClient(brokers, clientCfg)
	if err != nil {
		return nil, err
	}
	cg, err := sarama.NewConsumerGroupFromClient(group, client)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	commitClient, err := sarama.NewClient(brokers, commitCfg)
	if err != nil {
		_ = cg.Close()
		_ = client.Close()
		return nil, err
	}
	// Both clients share the config's registry: the member's figures are
	// their sum.
	stopMetrics, err := saramax.BridgeMetrics(client, brokers, config.meters)
	if err != nil {
		_ = commitClient.Close()
		_ = cg.Close()
		_ = client.Close()
		return nil, err
	}
	g.client, g.cg, g.commitClient, g.stopMetrics = client, cg, commitClient, stopMetrics
	if id := clientCfg.Consumer.Group.InstanceId; id != "" {
		g.instanceID = &id
	}
	return g, nil
}

// abortable returns a copy of cfg whose connections [Group.Abort] cuts.
func (g *Group) abortable(cfg *sarama.Config) *sarama.Config {
	c := *cfg
	g.aborters = append(g.aborters, saramax.MakeAbortable(&c))
	return &c
}

// Abort cuts every connection of the member and refuses new ones, so that
// sarama calls in progress return at once. The group cannot be used after
// it, except to [Group.Close] it; the coordinator drops the member after
// the session timeout. Idempotent.
func (g *Group) Abort() {
	for _, a := range g.aborters {
		a.Abort()
	}
}

// Handler receives the group's lifecycle, as sarama's ConsumerGroupHandler
// but with this package's types. ConsumeClaim runs in its own goroutine per
// partition and must return once [Claim.Next] reports [Closed].
type Handler interface {
	Setup(*Session) error
	Cleanup(*Session) error
	ConsumeClaim(*Session, *Claim) error
}

// Consume joins the group and blocks while the membership lasts: with the
// cooperative protocol that spans rebalances, until ctx ends, the group is
// closed or the session fails. Call it in a loop.
func (g *Group) Consume(ctx context.Context, topics []string, h Handler) error {
	return g.cg.Consume(ctx, topics, &adapter{h: h, g: g})
}

// Errors returns errors sarama reports while consuming (fetch, offset
// fetch, heartbeat). It must be drained.
func (g *Group) Errors() <-chan error { return g.cg.Errors() }

// Pause stops fetching from a partition; records already fetched are still
// delivered.
func (g *Group) Pause(topic string, partition int32) {
	g.cg.Pause(map[string][]int32{topic: {partition}})
}

// Resume restarts fetching from a paused partition.
func (g *Group) Resume(topic string, partition int32) {
	g.cg.Resume(map[string][]int32{topic: {partition}})
}

// Close leaves the group and closes both clients. If ctx ends first, the
// connections are cut ([Group.Abort]) and Close returns once sarama has
// given up, which without a network takes no longer than its retry count
// without backoff. It also waits for commits abandoned by their callers.
func (g *Group) Close(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		err := g.cg.Close()
		if cerr := g.client.Close(); cerr != nil && !errors.Is(cerr, sarama.ErrClosedClient) && err == nil {
			err = cerr
		}
		g.commits.Wait()
		if cerr := g.commitClient.Close(); cerr != nil && !errors.Is(cerr, sarama.ErrClosedClient) && err == nil {
			err = cerr
		}
		g.stopMetrics()
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	g.Abort()
	err := <-done
	return joinerr.Join(fmt.Errorf("close: %w", context.Cause(ctx)), err)
}

// IsFatal reports whether an error from Consume means the member cannot go
// on: a configuration error, a fenced static member, or a closed group.
// Anything else (coordinator moves, broker loss) is worth another Consume.
func IsFatal(err error) bool {
	var ce sarama.ConfigurationError
	return errors.As(err, &ce) ||
		errors.Is(err, sarama.ErrFencedInstancedId) ||
		errors.Is(err, sarama.ErrClosedConsumerGroup) ||
		errors.Is(err, sarama.ErrClosedClient)
}

// IsClosed reports whether err says the group was closed.
func IsClosed(err error) bool { return errors.Is(err, sarama.ErrClosedConsumerGroup) }

// IsFencedInstance reports whether err says another member registered
// with this static member's instance ID (KIP-345).
func IsFencedInstance(err error) bool { return errors.Is(err, sarama.ErrFencedInstancedId) }

// Session is the member's current group session. Every claim of one
// sarama session shares one *Session, so that callers can group their
// partitions by it (one commit request for all of them).
type Session struct {
	s          sarama.ConsumerGroupSession
	group      string
	instanceID *string
}

// MemberID is the member ID the coordinator assigned in this generation.
func (s *Session) MemberID() string { return s.s.MemberID() }

// GenerationID is the group generation the member belongs to now; with the
// cooperative protocol it moves on within the same session.
func (s *Session) GenerationID() int32 { return s.s.GenerationID() }

// Meta is the member's identity in this session's generation.
func (s *Session) Meta() GroupMeta {
	m := GroupMeta{Group: s.group, Generation: s.s.GenerationID(), MemberID: s.s.MemberID()}
	if s.instanceID != nil {
		m.InstanceID = *s.instanceID
	}
	return m
}

// Context ends when the session ends.
func (s *Session) Context() context.Context { return s.s.Context() }

// Failed reports whether the session ended because the member was
// dropped from the group (see [saramax.SessionDropped]), not by a
// rebalance, a revoke or a stop. False while the session lasts.
func (s *Session) Failed() bool { return saramax.SessionDropped(s.s.Context()) }

// Claim is one partition assigned to the member.
type Claim struct {
	c    sarama.ConsumerGroupClaim
	done <-chan struct{}
	slab saramax.MessageSlab // Next and TryNext run on one goroutine
}

// Topic of the claimed partition.
func (c *Claim) Topic() string { return c.c.Topic() }

// Partition number of the claimed partition.
func (c *Claim) Partition() int32 { return c.c.Partition() }

// InitialOffset is the offset consumption started at: the committed offset,
// or the configured start when nothing was committed.
func (c *Claim) InitialOffset() int64 { return c.c.InitialOffset() }

// HighWaterMark is the partition's high watermark at the last fetch.
func (c *Claim) HighWaterMark() int64 { return c.c.HighWaterMarkOffset() }

// Event says why [Claim.Next] returned.
type Event int

const (
	// Received: a record came.
	Received Event = iota
	// Woken: the wake channel fired.
	Woken
	// Closed: the partition was revoked or the session is ending; stop
	// taking records and return from ConsumeClaim.
	Closed
)

// Next waits for a record, a signal on wake (nil: never) or the end of the
// claim. The returned size is the record's key, value and header bytes.
func (c *Claim) Next(wake <-chan struct{}) (*bulwark.Message, int, Event) {
	// A session that ended wins over records still buffered.
	select {
	case <-c.done:
		return nil, 0, Closed
	default:
	}
	select {
	case cm, ok := <-c.c.Messages():
		if !ok {
			return nil, 0, Closed
		}
		return c.slab.FromConsumerMessage(cm), recordSize(cm), Received
	case <-wake:
		return nil, 0, Woken
	case <-c.done:
		return nil, 0, Closed
	}
}

// TryNext returns a record already buffered, without waiting; ok is false
// when none is (or the claim ended: Next then reports it). Unlike Next it
// does not look at the session first, as it runs for every record of a
// run: a run may thus take up to a run's worth of records after the
// session ended, which, like any record in flight then, are delivered
// again if they do not finish and commit.
func (c *Claim) TryNext() (msg *bulwark.Message, size int, ok bool) {
	select {
	case cm, open := <-c.c.Messages():
		if !open {
			return nil, 0, false
		}
		return c.slab.FromConsumerMessage(cm), recordSize(cm), true
	default:
		return nil, 0, false
	}
}

// Done is closed when the session ends (not when only this partition is
// revoked: that shows as [Closed] from Next).
func (c *Claim) Done() <-chan struct{} { return c.done }

func recordSize(cm *sarama.ConsumerMessage) int {
	n := len(cm.Key) + len(cm.Value)
	for _, h := range cm.Headers {
		if h != nil {
			n += len(h.Key) + len(h.Value)
		}
	}
	return n
}

// adapter is made per Consume call, that is per sarama session: Setup
// runs once, before any ConsumeClaim of the session (with the cooperative
// protocol, claims added by later rebalances join the same session).
type adapter struct {
	h    Handler
	g    *Group
	sess atomic.Pointer[Session]
}

func (a *adapter) session(s sarama.ConsumerGroupSession) *Session {
	if cur := a.sess.Load(); cur != nil && cur.s == s {
		return cur
	}
	sess := &Session{s: s, group: a.g.group, instanceID: a.g.instanceID}
	a.sess.Store(sess)
	return sess
}

func (a *adapter) Setup(s sarama.ConsumerGroupSession) error   { return a.h.Setup(a.session(s)) }
func (a *adapter) Cleanup(s sarama.ConsumerGroupSession) error { return a.h.Cleanup(a.session(s)) }
func (a *adapter) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	return a.h.ConsumeClaim(a.session(s), &Claim{c: c, done: s.Context().Done()})
}
