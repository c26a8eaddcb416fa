package txnsession

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/saramagroup"
)

// TopicPartition names one partition.
type TopicPartition = saramagroup.TopicPartition

// NoOffset stands for a partition without a committed offset.
const NoOffset = saramagroup.NoOffset

// GroupMeta is the consumer-group identity sent with transactional offsets
// so the broker can fence a stale member (KIP-447).
type GroupMeta = saramagroup.GroupMeta

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
	ctx   context.Context // the generation's: probes end with it
	marks watermarks      // next_offset.go
	lost  atomic.Bool
}

// MarkLost records that the member turned out to be stale (its commit was
// fenced): the partitions are reported lost, not revoked.
func (g *Generation) MarkLost() { g.lost.Store(true) }

// StableOffsets fetches the committed offsets of parts, waiting while a
// transaction that commits offsets for the group is pending.
func (g *Generation) StableOffsets(ctx context.Context, parts []TopicPartition) (map[TopicPartition]int64, error) {
	return g.group.m.StableOffsets(ctx, parts, g.group.hooks.OnUnstable)
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

// Group is a consumer-group member (saramagroup, eager) whose partitions
// start from stable offsets and whose generations each run one function.
type Group struct {
	m      *saramagroup.Group
	topics []string
	hooks  Hooks
	log    *slog.Logger
}

// ConnectGroup connects the member (saramagroup.Connect: bounded by ctx
// and s.ConnectTimeout). Run joins the group.
func ConnectGroup(ctx context.Context, brokers []string, cfg *saramagroup.Config, s conn.Settings, group string, topics []string, hooks Hooks, log *slog.Logger) (*Group, error) {
	m, err := saramagroup.Connect(ctx, brokers, group, cfg, s)
	if err != nil {
		return nil, err
	}
	return &Group{m: m, topics: topics, hooks: hooks, log: log}, nil
}

// MissingTopics returns those of topics the cluster does not have.
func (g *Group) MissingTopics(topics []string) ([]string, error) { return g.m.MissingTopics(topics) }

// Cut cuts the member's connections (saramagroup.Group.Abort), for an
// owner out of time to stop: what waits on Kafka returns at once.
func (g *Group) Cut() { g.m.Abort() }

// LeaveTimeout bounds leaving the group and closing its clients; past it
// the connections are cut.
const LeaveTimeout = time.Second

// Close leaves the group and closes the clients within LeaveTimeout (or
// until ctx ends), then cuts the connections. Run closes the group when
// it returns; Close is for a group that never ran.
func (g *Group) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, LeaveTimeout)
	defer cancel()
	return g.m.Close(ctx)
}

// Run consumes until ctx is done or fn returns an error, rejoining after
// each generation, then closes the group (see Close; cutOff ending cuts
// it short).
func (g *Group) Run(ctx, cutOff context.Context, fn GenerationFunc) error {
	// A fatal error must end the session even when this member has no
	// partitions (and so no ConsumeClaim that could return).
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	h := &groupHandler{g: g, fn: fn, stop: stop}
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range g.m.Errors() {
			if g.hooks.OnError != nil {
				g.hooks.OnError(err)
			}
			g.log.DebugContext(ctx, "eos: consumer group error", "error", err)
		}
	}()
	defer func() {
		if err := g.Close(cutOff); err != nil {
			g.log.DebugContext(ctx, "eos: leaving the group", "error", err)
		}
		<-errsDone
	}()
	failures := 0 // in a row
	for {
		err := g.m.Consume(ctx, g.topics, h)
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
		if saramagroup.IsClosed(err) {
			return err
		}
		if saramagroup.IsUnstable(err) {
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

// groupHandler runs a GenerationFunc per session. With the eager protocol
// one session is one generation, so the per-generation fields are reset in
// Setup and read by ConsumeClaim / Cleanup of the same session only.
//
// Goroutines: Setup starts the generation function, which closes done when
// it returns; sarama runs one ConsumeClaim per partition, each forwarding
// its records to records until done closes or the session ends. Cleanup
// waits for done.
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

func (h *groupHandler) Setup(sess *saramagroup.Session) error {
	parts := sess.Claims()
	// sarama already fetched offsets, without RequireStable: a transaction
	// of the previous owner may be about to move them. Start from stable
	// ones only.
	ctx := sess.Context()
	offs, err := h.g.m.StableOffsets(ctx, parts, h.g.hooks.OnUnstable)
	if err != nil {
		h.done, h.gen = nil, nil
		return err
	}
	for tp, off := range offs {
		sess.Position(tp, off) // NoOffset: from Consumer.Offsets.Initial
	}
	records := make(chan *bulwark.Message, 256)
	done := make(chan struct{})
	h.records, h.done = records, done
	gen := &Generation{
		Meta:    sess.Meta(),
		Claims:  parts,
		Records: records,
		Start:   offs,
		CatchUp: h.g.catchUp(ctx, offs),
		group:   h.g,
		ctx:     ctx,
	}
	h.gen = gen
	if h.g.hooks.OnAssigned != nil {
		h.g.hooks.OnAssigned(parts)
	}
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
func (g *Group) catchUp(ctx context.Context, start map[TopicPartition]int64) map[TopicPartition]int64 {
	out := make(map[TopicPartition]int64, len(start))
	for tp, from := range start {
		end, err := g.m.OffsetAt(ctx, tp.Topic, tp.Partition, saramagroup.Newest)
		if err != nil {
			continue
		}
		if from == NoOffset {
			if from, err = g.m.OffsetAt(ctx, tp.Topic, tp.Partition, saramagroup.Oldest); err != nil {
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

func (h *groupHandler) ConsumeClaim(sess *saramagroup.Session, claim *saramagroup.Claim) error {
	records, done := h.records, h.done
	if h.gen != nil {
		h.gen.marks.add(TopicPartition{Topic: claim.Topic(), Partition: claim.Partition()}, claim)
	}
	for {
		// done firing (Woken): the generation function ended the
		// generation; returning makes sarama end the session and rejoin.
		msg, _, ev := claim.Next(done)
		if ev != saramagroup.Received {
			return nil
		}
		select {
		case records <- msg:
		case <-done:
			return nil
		case <-claim.Done():
			return nil
		}
	}
}

func (h *groupHandler) Cleanup(sess *saramagroup.Session) error {
	// Partitions are released only after the generation function has
	// finished or aborted its transaction.
	if h.done != nil {
		<-h.done
	}
	if h.gen != nil && h.g.hooks.OnReleased != nil {
		h.g.hooks.OnReleased(h.gen.Claims, sess.Failed() || h.gen.lost.Load())
	}
	h.gen = nil
	return nil
}
