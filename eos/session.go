package eos

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/stopbound"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"github.com/bulwarkgo/bulwark/internal/txnsession"
)

// Session is one instance of an exactly-once read-process-write pipeline:
// a consumer-group member plus one transactional producer. Run it once per
// process (or per replica); several instances with the same group share the
// input partitions.
type Session struct {
	brokers  []string
	group    string
	topics   []string
	txnID    string
	handler  Handler
	opts     options
	conn     conn.Settings
	settings txnsession.Settings
	inst     *instruments
	running  atomic.Bool
	// missing counts the input topics Run waits for (WithWaitForTopics).
	missing   atomic.Int64
	readiness readiness // readiness.go
}

// New validates the arguments and options and returns a session; it does
// not connect (Run does). The transactional ID is
// transactionalIDPrefix + "-" + the instance ID ([WithInstanceID]).
func New(brokers []string, group string, inputTopics []string, transactionalIDPrefix string, handler Handler, opts ...Option) (*Session, error) {
	switch {
	case len(brokers) == 0:
		return nil, invalidConfig("no brokers")
	case group == "":
		return nil, invalidConfig("no consumer group")
	case len(inputTopics) == 0:
		return nil, invalidConfig("no input topics")
	case transactionalIDPrefix == "":
		return nil, invalidConfig("no transactional ID prefix")
	case handler == nil:
		return nil, invalidConfig("handler is nil")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := conn.CheckBrokers(brokers); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := checkTopicNames(inputTopics, o.deadLetterTopic); err != nil {
		return nil, err
	}
	cs, err := conn.Build(o.connOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s := &Session{
		brokers: append([]string(nil), brokers...),
		group:   group,
		topics:  append([]string(nil), inputTopics...),
		txnID:   transactionalIDPrefix + "-" + o.instanceID,
		handler: handler,
		opts:    o,
		conn:    cs,
	}
	s.readiness.ready = make(chan struct{})
	s.settings = txnsession.Settings{
		Group:              group,
		InstanceID:         o.instanceID,
		StaticMembership:   o.staticMembership,
		TransactionalID:    s.txnID,
		SessionTimeout:     o.sessionTimeout,
		TransactionTimeout: o.transactionTimeout,
		Linger:             o.linger,
		Hooks:              o.saramaHooks,
	}
	// Build once here so that bad settings fail New, not Run.
	if _, _, err := txnsession.Configs(cs, s.settings, nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if s.inst, err = newInstruments(o.tracerProvider, o.meterProvider, group,
		telemetry.Client(brokers, cs.ClientID), &s.missing); err != nil {
		return nil, fmt.Errorf("eos: telemetry: %w", err)
	}
	return s, nil
}

// TransactionalID returns the transactional ID the session's producer uses.
func (s *Session) TransactionalID() string { return s.txnID }

// Run joins the group and processes records until ctx is done, then aborts
// the open transaction, leaves the group and returns nil. It returns a
// [*FencedError] when another producer with the same transactional ID took
// over, a [*ProducerError] when the producer failed otherwise (unless
// [WithAutoRestart] is on: then a fresh producer takes over and Run goes
// on), an error matching [ErrUnknownTopic] when an input topic does not
// exist (unless [WithWaitForTopics]), and a *conn.ConnectError when it
// cannot connect, within the connect timeout (conn.WithConnectTimeout) or
// when ctx ends first. Calling Run again after it
// returned starts a fresh producer and membership; Run must not be called
// concurrently on one session.
func (s *Session) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer s.running.Store(false)
	restarts := 0
	for {
		err := s.runOnce(ctx)
		if errors.Is(err, errProducerSpent) && ctx.Err() == nil {
			s.opts.logger.InfoContext(ctx, "eos: starting a fresh producer", "transactional_id", s.txnID, "reason", err)
			continue
		}
		// Ending while still connecting says why it never ran.
		if connectErr := (*conn.ConnectError)(nil); errors.As(err, &connectErr) {
			return err
		}
		fatal := errors.Is(err, ErrFenced) || errors.Is(err, ErrProducerFailed)
		if !fatal && ctx.Err() != nil {
			return nil
		}
		if !fatal || !s.opts.autoRestart || ctx.Err() != nil {
			return err
		}
		s.opts.logger.WarnContext(ctx, "eos: restarting with a fresh producer", "transactional_id", s.txnID, "error", err)
		restarts++
		if (clock.Wall{}).Sleep(ctx, s.opts.retryPolicy().Delay(restarts)) != nil {
			return nil
		}
	}
}

// StopMargin bounds how long Run may take to return after its context
// ends, whatever the network does: the open transaction gets a bounded
// attempt to abort, leaving the group and closing the producer too, and
// what still waits on Kafka then has its connections cut (a transaction
// whose abort was cut is aborted by the coordinator after the transaction
// timeout, or at once by the next producer with the ID). A handler that
// ignores its context is left to finish in the background.
const StopMargin = 4 * time.Second

// cutOffLead is how long before the end of StopMargin connections still
// in use are cut, so what waits on them can return in time.
const cutOffLead = 500 * time.Millisecond

// runOnce runs one producer and membership until ctx ends or either
// fails. Goroutines: consume runs the group (whose generations run the
// transaction loop) and then closes the producer; runOnce waits for its
// result, once ctx ended for at most StopMargin, cutting both clients'
// connections shortly before (stopbound).
func (s *Session) runOnce(ctx context.Context) error {
	ccfg, pcfg, err := txnsession.Configs(s.conn, s.settings, s.opts.meterProvider)
	if err != nil {
		return err
	}
	// Connecting is bounded by ctx and the connect timeout.
	prod, err := txnsession.ConnectProducer(ctx, s.brokers, pcfg, s.conn, s.opts.meterProvider)
	if err != nil {
		return fmt.Errorf("eos: start producer %s: %w", s.txnID, err)
	}
	hooks := txnsession.Hooks{
		OnUnstable: func() { s.inst.unstable.Add(context.Background(), 1, s.inst.groupAttr) },
	}
	s.rebalanceHooks(ctx, &hooks)
	grp, err := txnsession.ConnectGroup(ctx, s.brokers, ccfg, s.conn, s.group, s.topics, hooks, s.opts.logger)
	if err != nil {
		s.closeProducer(ctx, prod)
		return fmt.Errorf("eos: join group %s: %w", s.group, err)
	}
	cutOffCtx, cutOff := context.WithCancel(context.Background())
	defer cutOff()
	result := make(chan error, 1)
	go func() { result <- s.consume(ctx, cutOffCtx, prod, grp) }()
	return stopbound.Wait(ctx, result, StopMargin, cutOffLead, func() {
		cutOff()
		grp.Cut()
		prod.Cut()
	}, s.opts.logger, "eos")
}

// consume runs the group until ctx ends or a fatal error, then closes the
// group (within its leave timeout, or until cutOff ends) and the producer.
func (s *Session) consume(ctx, cutOff context.Context, prod *txnsession.Producer, grp *txnsession.Group) error {
	defer s.closeProducer(ctx, prod)
	if err := s.awaitTopics(ctx, grp); err != nil || ctx.Err() != nil {
		_ = grp.Close(cutOff)
		return err
	}
	return grp.Run(ctx, cutOff, func(gctx context.Context, gen *txnsession.Generation) error {
		l := newTxnLoop(s, prod, gen)
		return l.run(ctx, gctx)
	})
}

func (s *Session) closeProducer(ctx context.Context, prod *txnsession.Producer) {
	if err := prod.Close(); err != nil {
		s.opts.logger.DebugContext(ctx, "eos: producer close", "error", err)
	}
}
