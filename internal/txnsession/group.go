package txnsession

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"go.opentelemetry.io/otel/metric"
)

// GroupMeta is the consumer-group identity sent with transactional offsets
// so the broker can fence a stale member (KIP-447).
type GroupMeta struct{ m *sarama.ConsumerGroupMetadata }

// Generation returns the group generation the metadata belongs to.
func (g GroupMeta) Generation() int32 { return g.m.GenerationID }

// MemberID returns the member ID the metadata belongs to.
func (g GroupMeta) MemberID() string { return g.m.MemberID }

// Generation is one group generation as the session sees it: the claimed
// partitions, already positioned at their stable offsets, and their records
// merged into one channel (in offset order per partition).
type Generation struct {
	Meta    GroupMeta
	Claims  []TopicPartition
	Records <-chan *bulwark.Message
	// Start is where each claimed partition starts: its stable committed
	// offset, or NoOffset (then the oldest offset).
	Start map[TopicPartition]int64
	// CatchUp is, per claimed partition, the offset the member must have
	// committed to have caught up with what the partition held at the
	// assignment: its end then, or NoOffset when it started there
	// already. A partition whose lookup failed is missing.
	CatchUp map[TopicPartition]int64

	group *Group
	marks watermarks // next_offset.go
	lost  atomic.Bool
}

// MarkLost records that the member turned out to be stale (its commit was
// fenced): the partitions are reported lost, not revoked.
func (g *Generation) MarkLost() { g.lost.Store(true) }

// StableOffsets fetches the committed offsets of parts, waiting while a
// transaction that commits offsets for the group is pending.
func (g *Generation) StableOffsets(ctx context.Context, parts []TopicPartition) (map[TopicPartition]int64, error) {
	return stableOffsets(ctx, g.group.client, g.group.id, parts, g.group.hooks.OnUnstable)
}

// GenerationFunc runs one generation. It must return once ctx is done (the
// generation is ending: a rebalance, a lost membership or Run's context),
// after finishing or aborting its transaction; no partition is released
// before it returned. It may return earlier to end the generation (the
// member then rejoins). A non-nil error stops [Group.Run] with that error.
type GenerationFunc func(ctx context.Context, gen *Generation) error

// Hooks observe the group; all are optional.
type Hooks struct {
	// OnUnstable is called each time an offset fetch finds offsets of a
	// pending transaction.
	OnUnstable func()
	// OnError is called with errors the consumer group reports.
	OnError func(error)
	// OnAssigned is called with a generation's partitions before their
	// records flow, OnReleased once the generation function returned and
	// before they are released. lost says the generation ended because
	// the member was dropped (heartbeats failed, it was fenced: see
	// [Generation.MarkLost]) rather than by a rebalance or a stop.
	OnAssigned func(parts []TopicPartition)
	OnReleased func(parts []TopicPartition, lost bool)
}

// Group is a consumer-group member whose partitions start from stable
// offsets.
type Group struct {
	id         string
	topics     []string
	instanceID *string
	client     sarama.Client
	cg         sarama.ConsumerGroup
	hooks      Hooks
	log        *slog.Logger
	// stopMetrics ends the reporting of the client's broker figures.
	stopMetrics func()
	// probes are the sarama calls of Generation.NextDelivered; Run waits
	// for them after closing the client, which ends them.
	probes sync.WaitGroup
}

// NewGroup connects the member's client. Run joins the group.
func NewGroup(brokers []string, cfg *sarama.Config, group string, topics []string, hooks Hooks, log *slog.Logger, mp metric.MeterProvider) (*Group, error) {
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, err
	}
	cg, err := sarama.NewConsumerGroupFromClient(group, client)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	stopMetrics, err := saramax.BridgeMetrics(client, brokers, mp)
	if err != nil {
		_ = cg.Close()
		_ = client.Close()
		return nil, err
	}
	g := &Group{id: group, topics: topics, client: client, cg: cg, hooks: hooks, log: log, stopMetrics: stopMetrics}
	if id := cfg.Consumer.Group.InstanceId; id != "" {
		g.instanceID = &id
	}
	return g, nil
}

// Close releases a group that never ran; Run closes it when it returns.
func (g *Group) Close() error {
	err := g.cg.Close()
	if cerr := g.client.Close(); cerr != nil && !errors.Is(cerr, sarama.ErrClosedClient) && err == nil {
		err = cerr
	}
	g.stopMetrics()
	return err
}

// Run consumes until ctx is done or fn returns an error, rejoining after
// each generation.
func (g *Group) Run(ctx context.Context, fn GenerationFunc) error {
	// A fatal error must end the session even when this member has no
	// partitions (and so no ConsumeClaim that could return).
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	h := &groupHandler{g: g, fn: fn, stop: stop}
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range g.cg.Errors() {
			if g.hooks.OnError != nil {
				g.hooks.OnError(err)
			}
			g.log.DebugContext(ctx, "eos: consumer group error", "error", err)
		}
	}()
	defer func() {
		_ = g.cg.Close()
		<-errsDone
		_ = g.client.Close()
		g.stopMetrics()
		g.probes.Wait()
	}()
	failures := 0 // in a row
	for {
		err := g.cg.Consume(ctx, g.topics, h)
		if fatal := h.takeFatal(); fatal != nil {
			return fatal
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			failures = 0
			continue
		}
		if errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return err
		}
		if errors.Is(err, sarama.ErrUnstableOffsetCommit) {
			// sarama's own offset fetch (RequireStable for read_committed)
			// gave up while a transaction of the previous owner is pending.
			// Safe; try again soon, the transaction ends within its timeout.
			if g.hooks.OnUnstable != nil {
				g.hooks.OnUnstable()
			}
			g.log.DebugContext(ctx, "eos: offsets unstable at assignment, rejoining", "error", err)
			if (clock.Wall{}).Sleep(ctx, unstableRejoinBackoff) != nil {
				return nil
			}
			continue
		}
		failures++
		wait := rejoinBackoff.Delay(failures)
		g.log.WarnContext(ctx, "eos: consumer group session failed, rejoining", "error", err, "backoff", wait)
		if (clock.Wall{}).Sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// unstableRejoinBackoff is the pause before rejoining after sarama could not
// fetch stable offsets for a new assignment. It is fixed and does not count
// as a failure: the previous owner's transaction ends within its timeout,
// so asking again soon is what gets the partitions going.
const unstableRejoinBackoff = 100 * time.Millisecond

// rejoinBackoff paces rejoining after failed sessions in a row; a
// generation that ended cleanly starts it again. Short, fixed (not the
// user's WithRetryBackoff: this is the group protocol, not the records)
// and exact: the coordinator gathers the members' joins into one
// rebalance anyway, so jitter would only make that rebalance wait for the
// slowest draw.
var rejoinBackoff = backoff.Policy{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Jitter: backoff.None}

// groupHandler adapts GenerationFunc to sarama's ConsumerGroupHandler. With
// the eager protocol one session is one generation, so the per-generation
// fields are reset in Setup and read by ConsumeClaim / Cleanup of the same
// session only.
type groupHandler struct {
	g    *Group
	fn   GenerationFunc
	stop context.CancelFunc

	records chan *bulwark.Message
	done    chan struct{}
	gen     *Generation

	mu    sync.Mutex
	fatal error
}

func (h *groupHandler) takeFatal() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.fatal
	h.fatal = nil
	return err
}

func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	var parts []TopicPartition
	for topic, ps := range sess.Claims() {
		for _, p := range ps {
			parts = append(parts, TopicPartition{topic, p})
		}
	}
	// sarama already fetched offsets, without RequireStable: a transaction
	// of the previous owner may be about to move them. Start from stable
	// ones only.
	offs, err := stableOffsets(sess.Context(), h.g.client, h.g.id, parts, h.g.hooks.OnUnstable)
	if err != nil {
		h.done, h.gen = nil, nil
		return err
	}
	for tp, off := range offs {
		// MarkOffset only moves forward and ResetOffset only backward;
		// together they set exactly off. With auto-commit disabled neither
		// is ever committed by sarama. NoOffset makes the claim start at
		// Consumer.Offsets.Initial.
		sess.MarkOffset(tp.Topic, tp.Partition, off, "")
		sess.ResetOffset(tp.Topic, tp.Partition, off, "")
	}
	records := make(chan *bulwark.Message, 256)
	done := make(chan struct{})
	h.records, h.done = records, done
	gen := &Generation{
		Meta:    GroupMeta{sarama.NewConsumerGroupMetadataFromSession(sess, h.g.id, h.g.instanceID)},
		Claims:  parts,
		Records: records,
		Start:   offs,
		CatchUp: catchUp(h.g.client, offs),
		group:   h.g,
	}
	h.gen = gen
	if h.g.hooks.OnAssigned != nil {
		h.g.hooks.OnAssigned(parts)
	}
	ctx := sess.Context()
	go func() {
		defer close(done)
		if err := h.fn(ctx, gen); err != nil {
			h.mu.Lock()
			h.fatal = err
			h.mu.Unlock()
			h.stop()
		}
	}()
	return nil
}

// catchUp looks up the ends of the partitions that start at start (see
// Generation.CatchUp).
func catchUp(client sarama.Client, start map[TopicPartition]int64) map[TopicPartition]int64 {
	out := make(map[TopicPartition]int64, len(start))
	for tp, from := range start {
		end, err := client.GetOffset(tp.Topic, tp.Partition, sarama.OffsetNewest)
		if err != nil {
			continue
		}
		if from == NoOffset {
			if from, err = client.GetOffset(tp.Topic, tp.Partition, sarama.OffsetOldest); err != nil {
				continue
			}
		}
		if from >= end {
			end = NoOffset
		}
		out[tp] = end
	}
	return out
}

func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	records, done, ctxDone := h.records, h.done, sess.Context().Done()
	if h.gen != nil {
		h.gen.marks.add(TopicPartition{claim.Topic(), claim.Partition()}, claim)
	}
	var slab saramax.MessageSlab
	for {
		select {
		case cm, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			msg := slab.FromConsumerMessage(cm)
			select {
			case records <- msg:
			case <-done:
				return nil
			case <-ctxDone:
				return nil
			}
		case <-done:
			// The generation function ended the generation; returning
			// makes sarama end the session and rejoin.
			return nil
		case <-ctxDone:
			return nil
		}
	}
}

func (h *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	// Partitions are released only after the generation function has
	// finished or aborted its transaction.
	if h.done != nil {
		<-h.done
	}
	if h.gen != nil && h.g.hooks.OnReleased != nil {
		h.g.hooks.OnReleased(h.gen.Claims, saramax.SessionDropped(sess.Context()) || h.gen.lost.Load())
	}
	h.gen = nil
	return nil
}
