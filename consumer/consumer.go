package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/consumer/internal/delivery"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/fate"
	"github.com/bulwarkgo/bulwark/internal/logging"
	"github.com/bulwarkgo/bulwark/internal/saramagroup"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/internal/stopbound"
)

// Goroutines of a Consumer: who starts each, what it owns, how it ends.
// Each of ours has ended when Run returns, except, past Run's bound, the
// workers of a handler that ignores its context and what waits for them.
//
//   - Run's caller: starts runGroup and waits for its result; once ctx
//     ended it waits up to the grace period plus StopMargin, and
//     cutOffLead before that cancels cutOffCtx and aborts the group and
//     the dead-letter writer (connections cut).
//   - runGroup (Run): the one sender on result (buffered, one value). Runs
//     consumeLoop, in which sarama calls groupHandler's Setup and Cleanup;
//     once it returns, stops the commit loop and the watchdog, waits for
//     them, then closes the group and the dead-letter writer within
//     leaveTimeout (or cutOffCtx). Ends when that is done.
//   - errors drainer (runGroup): ranges over g.Errors(), which saramagroup
//     closes in g.Close; runGroup waits for it.
//   - commit loop (runGroup; commitLoop, commit.go): periodic commits and
//     the readiness check (readiness.go), which closes readiness.ready,
//     once. Ends when runGroup cancels commitsCtx, after consumeLoop and
//     with it every partition goroutine returned: no commit runs while the
//     group closes.
//   - watchdog (runGroup; watchStuck, inline.go): inline mode only (else it
//     returns at once); starts watchers. Ends like the commit loop.
//   - partition goroutine, one per assigned partition (sarama's session
//     calls groupHandler.ConsumeClaim): registers its runner in c.runners,
//     runs run (reads the claim, admits records to the budget, and inline
//     calls the handler itself), then drain, the final commit
//     (commit.go) and the listener (rebalance.go), and removes the runner.
//     Its budget wake channel is made in run, signalled by
//     budget.releaseAll, never closed; it alone reads progress. Ends after
//     the claim closed (revoke, end of session) and the drain.
//   - workers (newPartitionRunner): WithKeyOrdering's r.work (one per
//     worker) or a batch handler's r.workBatches (one); none inline. They
//     take records from the scheduler (scheduler.go; workBatches also waits
//     on sched.pushed, signalled by pushAll and close) and deliver them
//     (delivery.go); end sends on progress, without blocking. They end once
//     drain closed the scheduler and nothing is ready; drain waits up to
//     handlerExitWait.
//   - watcher (the watchdog's checkStuck, inline mode): reads the claim,
//     holding readMu, while the partition goroutine is inside a handler;
//     ends when takeReading asks for reading back on reclaim, or when the
//     claim closes, after starting the drain (beginDrain).
//   - grace timer (beginDrain's time.AfterFunc): endGrace cancels the
//     handlers' context and closes graceOver; drain also calls it, once
//     wins (graceOnce).
//   - drain's waiter (drain): closes done once the workers returned.
//   - inside saramagroup: sarama's consumer group (session, heartbeats,
//     fetchers) and the commit client's calls; g.Close waits for them,
//     g.Abort cuts their connections.
//   - inside the dead-letter writer (deadletter.go): the produce engine's,
//     started by the first write; dlt.close ends them, dlt.abort cuts them.
//
// Stats and State run on any goroutine, among them the metric reader's,
// which calls the gauges' callback (telemetry.go). commitSem is a
// semaphore any committer takes (commit.go).

// ErrAlreadyRunning is returned by a second call of Run.
var ErrAlreadyRunning = errors.New("consumer: Run called twice")

// ErrFencedInstance is returned by Run when another member joined with
// this consumer's static instance ID ([WithStaticMembership]): two
// processes share an ID that must be unique, and this one stops. It
// matches [bulwark.ErrFenced], the one fencing error, too.
var ErrFencedInstance error = fencedInstance{}

type fencedInstance struct{}

func (fencedInstance) Error() string { return "consumer: another member took this static instance ID" }

func (fencedInstance) Is(target error) bool { return target == bulwark.ErrFenced }

// Consumer is an at-least-once member of a consumer group. Create it with
// [New] and start it with [Run].
type Consumer struct {
	brokers []string
	group   string
	topics  []string
	// subscribed is topics plus their retry topics (WithRetryTopics).
	subscribed []string
	cfg        config
	conn       conn.Settings
	gcfg       *saramagroup.Config
	untimed    bulwark.Handler // the user's handler inside its middleware
	handler    bulwark.Handler // untimed, also recording the handler-duration histogram
	policy     delivery.Policy
	log        *slog.Logger
	tel        *instruments
	budget     *budget
	dlt        *deadLetterWriter

	started atomic.Bool
	// g is the running group, set by Run.
	g *saramagroup.Group

	mu      sync.Mutex
	runners map[topicPartition]*partitionRunner

	// commitSem serializes commits and guards partitionRunner.committed;
	// a channel so that waiting for it can end with a context.
	commitSem chan struct{}
	counts    counts
	// missing lists the topics Run waits for (WithWaitForTopics).
	missing atomic.Pointer[[]string]

	readiness readiness       // readiness.go
	rebalance *rebalanceCalls // WithRebalanceListener; nil without
	// runValues is Run's context without its cancellation, set before the
	// group starts: listener calls carry its values (trace, logger), and
	// outlive a stop, as the final commits do.
	runValues context.Context
	runDone   <-chan struct{} // Run's ctx.Done(): a session ending then is a stop, not a loss
}

type topicPartition struct {
	topic     string
	partition int32
}

// New validates its arguments and options and returns a consumer; it does
// not connect ([Consumer.Run] does). Errors wrap [ErrInvalidConfig] or
// conn.ErrInvalidSettings.
func New(brokers []string, group string, topics []string, handler bulwark.Handler, opts ...Option) (*Consumer, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	switch {
	case len(brokers) == 0:
		cfg.invalid("no brokers")
	case group == "":
		cfg.invalid("no group")
	case len(topics) == 0:
		cfg.invalid("no topics")
	case handler == nil:
		cfg.invalid("handler is nil")
	}
	cfg.checkNames(topics)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := conn.CheckBrokers(brokers); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cs, err := conn.Build(cfg.connOpts...)
	if err != nil {
		return nil, err
	}
	gcfg, err := saramagroup.NewConfig(cs, saramagroup.Settings{
		SessionTimeout:    cfg.sessionTimeout,
		HeartbeatInterval: cfg.heartbeat,
		RebalanceTimeout:  cfg.grace + 10*time.Second,
		InstanceID:        cfg.instanceID,
		StartFromNewest:   cfg.fromNewest,
		ReadCommitted:     !cfg.readUncommitted,
		MeterProvider:     cfg.meterProvider,
	}, cfg.applySaramaTweaks)
	if err != nil {
		return nil, err
	}
	logger := cfg.logger
	if logger == nil {
		logger = logging.Default()
	}
	c := &Consumer{
		brokers:   append([]string(nil), brokers...),
		group:     group,
		topics:    append([]string(nil), topics...),
		cfg:       cfg,
		conn:      cs,
		gcfg:      gcfg,
		log:       logger.With("group", group),
		budget:    newBudget(cfg.maxRecords, cfg.maxBytes),
		runners:   map[topicPartition]*partitionRunner{},
		readiness: readiness{ready: make(chan struct{})},
		commitSem: make(chan struct{}, 1),
		policy: delivery.Policy{
			Limits: fate.Limits{
				MaxAttempts:   cfg.maxAttempts,
				Backoff:       backoff.Policy{Initial: cfg.retryInitial, Max: cfg.retryMax},
				MaxElapsed:    cfg.retryElapsed,
				PauseDelay:    cfg.pauseDelay,
				MaxPauseDelay: cfg.maxPauseDelay,
			},
			DeadLetterTopic: cfg.deadLetterTopic,
			Group:           group,
		},
	}
	c.tel, err = newTelemetry(c, cfg.tracerProvider, cfg.meterProvider)
	if err != nil {
		return nil, err
	}
	c.subscribed = c.topics
	inner := bulwark.Chain(cfg.middleware...)(handler)
	if len(cfg.retryDelays) > 0 {
		c.subscribed = append(append([]string(nil), c.topics...), retryTopics(c.topics, cfg.retryDelays)...)
		inner = c.retryTopicHandler(inner)
		c.policy.DeadLetterTopic = deadLetterTopicOf(cfg.deadLetterTopic, c.topics)
	}
	c.untimed = inner
	c.handler = c.tel.timed(inner)
	c.dlt = newDeadLetterWriter(c.brokers, cs, cfg.meterProvider)
	if cfg.listener != nil {
		c.rebalance = &rebalanceCalls{l: cfg.listener}
	}
	return c, nil
}

// StopMargin bounds how long Run may take, beyond the grace period, to
// return after its context ends, whatever the network does: handlers get
// a moment to return from their cancelled context, final commits and
// leaving the group get a bounded attempt, and what still waits on Kafka
// then has its connections cut.
const StopMargin = 4 * time.Second

// Parts of StopMargin.
const (
	// handlerExitWait is how long a drain waits for handlers to return
	// after their context was cancelled at the end of the grace period.
	handlerExitWait = time.Second
	// finalCommitTimeout bounds the commit of a released partition.
	finalCommitTimeout = 1500 * time.Millisecond
	// leaveTimeout bounds leaving the group and closing the clients.
	leaveTimeout = time.Second
	// cutOffLead is how long before the end of StopMargin connections
	// still in use are cut, so what waits on them can return in time.
	cutOffLead = 500 * time.Millisecond
)

// Run joins the group and consumes until ctx ends, then stops gracefully:
// records in flight get the grace period to finish, finished offsets are
// committed and the member leaves the group. Run returns at most
// [StopMargin] after the grace period once ctx has ended, even when the
// cluster is unreachable (offsets that could not be committed by then are
// delivered again). It returns nil after such a stop, or the error that
// made consuming impossible (bad configuration, fenced static member, a
// subscribed topic that does not exist ([ErrUnknownTopic], unless
// [WithWaitForTopics]), or a *conn.ConnectError when the cluster cannot be
// reached at start: within the connect timeout, conn.WithConnectTimeout,
// or when ctx ends while still connecting). Run may be called once.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	g, err := saramagroup.Connect(ctx, c.brokers, c.group, c.gcfg, c.conn)
	if err != nil {
		return fmt.Errorf("consumer: connect: %w", err)
	}
	c.mu.Lock()
	c.g = g
	c.runValues, c.runDone = context.WithoutCancel(ctx), ctx.Done()
	c.mu.Unlock()

	// cutOff ends shortly before Run must return; whatever still waits on
	// Kafka then is cut off.
	cutOffCtx, cutOff := context.WithCancel(context.Background())
	defer cutOff()
	result := make(chan error, 1)
	go func() { result <- c.runGroup(ctx, cutOffCtx, g) }()
	return stopbound.Wait(ctx, result, c.cfg.grace+StopMargin, cutOffLead, func() {
		cutOff()
		g.Abort()
		c.dlt.abort()
	}, c.log, "consumer")
}

// runGroup consumes until ctx ends or a fatal error, then closes the
// group and the dead-letter producer, each within leaveTimeout or until
// cutOff ends.
func (c *Consumer) runGroup(ctx, cutOff context.Context, g *saramagroup.Group) error {
	defer c.tel.close()
	var bg sync.WaitGroup
	bg.Go(func() {
		for err := range g.Errors() {
			c.log.WarnContext(ctx, "consumer group error", "error", err)
		}
	})
	commitsCtx, stopCommits := context.WithCancel(context.Background())
	var commits sync.WaitGroup
	commits.Go(func() { c.commitLoop(commitsCtx) })
	commits.Go(func() { c.watchStuck(commitsCtx) })

	runErr := c.consumeLoop(ctx, g)

	stopCommits()
	commits.Wait() // no commit may start once Close has begun
	closeCtx, cancel := context.WithTimeout(cutOff, leaveTimeout)
	defer cancel()
	closeErr := g.Close(closeCtx)
	c.dlt.close(closeCtx)
	bg.Wait()
	if runErr != nil {
		return runErr
	}
	if closeErr != nil {
		c.log.WarnContext(ctx, "leaving the group failed", "error", closeErr)
	}
	return nil
}

func (c *Consumer) consumeLoop(ctx context.Context, g *saramagroup.Group) error {
	if err := c.awaitTopics(ctx, g); err != nil || ctx.Err() != nil {
		return err
	}
	for failures := 1; ; {
		err := g.Consume(ctx, c.subscribed, groupHandler{c})
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			failures = 1
			continue
		}
		if saramax.IsUnknownTopic(err) {
			// A subscribed topic was deleted: the same answer as at start.
			if err := c.awaitTopics(ctx, g); err != nil || ctx.Err() != nil {
				return err
			}
		}
		if saramagroup.IsFencedInstance(err) {
			return fmt.Errorf("%w: %w", ErrFencedInstance, err)
		}
		if saramagroup.IsFatal(err) {
			return fmt.Errorf("consumer: %w", err)
		}
		c.log.WarnContext(ctx, "consumer group session failed; rejoining", "error", err)
		wait := backoff.Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second}.Delay(failures)
		failures++
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// groupHandler receives the group's lifecycle; a separate type keeps these
// methods out of Consumer's API.
type groupHandler struct{ c *Consumer }

func (h groupHandler) Setup(*saramagroup.Session) error {
	h.c.readiness.joined.Store(true)
	return nil
}

func (h groupHandler) Cleanup(*saramagroup.Session) error {
	h.c.readiness.joined.Store(false)
	return nil
}

// ConsumeClaim runs one assigned partition until it is revoked or the
// session ends, then drains it and commits what finished before the
// partition is released.
func (h groupHandler) ConsumeClaim(sess *saramagroup.Session, claim *saramagroup.Claim) error {
	c := h.c
	r := newPartitionRunner(c, sess, claim)
	tp := topicPartition{claim.Topic(), claim.Partition()}
	c.mu.Lock()
	c.runners[tp] = r
	c.mu.Unlock()
	c.log.Debug("partition assigned", "topic", tp.topic, "partition", tp.partition, "offset", claim.InitialOffset())
	btp := bulwark.TopicPartition{Topic: tp.topic, Partition: tp.partition}
	if c.cfg.startAt != nil && claim.InitialOffset() < 0 {
		c.positionStart(r, btp)
	}
	c.listen(assigned, btp)

	r.run()
	r.drain()
	r.released.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), finalCommitTimeout)
	// Partitions released together (a rebalance, the end of the session)
	// share one commit request: whichever gets to commit first takes the
	// others that are waiting.
	c.commitPartitions(ctx, sess, func() []*partitionRunner { return c.releasedRunners(sess, r) }, 3)
	cancel()
	if c.releasedCleanly(sess, r) {
		c.listen(revoked, btp)
	} else {
		c.listen(lost, btp)
	}

	c.mu.Lock()
	if c.runners[tp] == r {
		delete(c.runners, tp)
	}
	c.mu.Unlock()
	c.log.DebugContext(ctx, "partition released", "topic", tp.topic, "partition", tp.partition)
	return nil
}
