package consumertest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/consumer/internal/delivery"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/fate"
	"github.com/bulwarkgo/bulwark/internal/joinerr"
	"github.com/bulwarkgo/bulwark/internal/offsettrack"
)

// ErrInvalidConfig is wrapped by errors New returns for bad options.
var ErrInvalidConfig = errors.New("consumertest: invalid configuration")

// DefaultAttemptLimit is the default of [WithAttemptLimit].
const DefaultAttemptLimit = 1000

// errAttemptLimit stops a delivery at the attempt limit: the harness's
// Sleep returns it, which the delivery code treats as the end of the wait.
var errAttemptLimit = errors.New("consumertest: attempt limit reached")

// Outcome is how the consumer would finish a record.
type Outcome int

const (
	// Handled: the handler returned nil; the offset would be committed.
	Handled Outcome = iota
	// DeadLettered: the record would go to the dead-letter topic and its
	// offset be committed.
	DeadLettered
	// Abandoned: the context ended first (or the dead letter could not be
	// written); the offset would not be committed.
	Abandoned
)

func (o Outcome) String() string {
	switch o {
	case Handled:
		return "handled"
	case DeadLettered:
		return "dead-lettered"
	default:
		return "abandoned"
	}
}

// Result describes one delivered record.
type Result struct {
	Outcome  Outcome
	Attempts int
	// Err is the handler's last error (nil when Handled).
	Err error
	// DeadLetter is the dead-letter record, when DeadLettered.
	DeadLetter *bulwark.Message
	// Waits are the retry, pause and dead-letter backoff waits the consumer
	// would have slept, in order; the harness slept them on its clock
	// ([WithClock]).
	Waits []time.Duration
	// Paused reports whether a pause-class error paused the partition.
	Paused bool
	// Limited reports that the harness stopped the delivery at its attempt
	// limit ([WithAttemptLimit]): the handler kept failing with pause-class
	// errors, or the dead letter could not be written. The Outcome is then
	// Abandoned, as when the context ends: the consumer would still be
	// trying.
	Limited bool
}

// Partition names a topic partition.
type Partition struct {
	Topic     string
	Partition int32
}

type config struct {
	middleware []bulwark.Middleware
	policy     delivery.Policy
	dltErr     func(*bulwark.Message) error
	clock      Clock
	limit      int
	errs       []error
}

// Option configures a Harness. Defaults match the consumer's.
type Option func(*config)

// WithMiddleware wraps the handler as consumer.WithMiddleware does.
func WithMiddleware(mws ...bulwark.Middleware) Option {
	return func(c *config) { c.middleware = append(c.middleware, mws...) }
}

// WithRetry is consumer.WithRetry.
func WithRetry(maxAttempts int, initial, max time.Duration) Option {
	return func(c *config) {
		if maxAttempts < 1 || initial < 0 || max < initial {
			c.errs = append(c.errs, ErrInvalidConfig)
		}
		c.policy.MaxAttempts, c.policy.Backoff = maxAttempts, backoff.Policy{Initial: initial, Max: max}
	}
}

// WithDeadLetterTopic is consumer.WithDeadLetterTopic.
func WithDeadLetterTopic(name func(topic string) string) Option {
	return func(c *config) {
		if name == nil {
			c.errs = append(c.errs, ErrInvalidConfig)
		}
		c.policy.DeadLetterTopic = name
	}
}

// WithPauseDelay is consumer.WithPauseDelay.
func WithPauseDelay(d time.Duration) Option {
	return func(c *config) { c.policy.PauseDelay = d }
}

// WithDeadLetterError makes writing a dead letter fail with fn's result
// (nil: succeed), to test that such records stay uncommitted. The consumer
// retries a failed write until it succeeds or the context ends; so does
// the harness, up to its attempt limit ([WithAttemptLimit]).
func WithDeadLetterError(fn func(dl *bulwark.Message) error) Option {
	return func(c *config) { c.dltErr = fn }
}

// WithClock sets the clock the harness waits on (default: a fresh
// [NewAutoClock], so no test sleeps). With a [NewFakeClock], Deliver blocks
// in each wait until the test advances the clock. The clock also gives the
// time the retry budget (WithRetry's attempts, the consumer's max elapsed
// time) is measured on.
func WithClock(c Clock) Option {
	return func(cfg *config) {
		if c == nil {
			cfg.errs = append(cfg.errs, ErrInvalidConfig)
		}
		cfg.clock = c
	}
}

// WithAttemptLimit bounds the handler calls of one Deliver or
// DeliverBatch, pause-class ones included, and the tries to write its dead
// letter, each at n (default [DefaultAttemptLimit]). A delivery that gets
// there ends Abandoned with Result.Limited set, instead of looping for as
// long as its context lives: a persistent pause-class error makes the
// consumer wait forever, which a test cannot.
func WithAttemptLimit(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.errs = append(c.errs, ErrInvalidConfig)
		}
		c.limit = n
	}
}

// Harness delivers records to a handler. It is safe for concurrent use.
type Harness struct {
	handler bulwark.Handler
	batch   consumer.BatchHandler // set by NewBatch
	cfg     config

	mu          sync.Mutex
	trackers    map[Partition]*offsettrack.Partition
	deadLetters []*bulwark.Message
}

// New returns a harness for h.
func New(h bulwark.Handler, opts ...Option) (*Harness, error) {
	cfg := config{policy: delivery.Policy{
		Limits: fate.Limits{
			MaxAttempts: consumer.DefaultMaxAttempts,
			Backoff:     backoff.Policy{Initial: consumer.DefaultRetryInitial, Max: consumer.DefaultRetryMax},
			PauseDelay:  consumer.DefaultPauseDelay,
		},
		DeadLetterTopic: consumer.DefaultDeadLetterTopic,
	}, limit: DefaultAttemptLimit}
	for _, o := range opts {
		o(&cfg)
	}
	if h == nil {
		cfg.errs = append(cfg.errs, ErrInvalidConfig)
	}
	if err := joinerr.Join(cfg.errs...); err != nil {
		return nil, err
	}
	if cfg.clock == nil {
		cfg.clock = NewAutoClock(time.Time{})
	}
	return &Harness{
		handler:  bulwark.Chain(cfg.middleware...)(h),
		cfg:      cfg,
		trackers: map[Partition]*offsettrack.Partition{},
	}, nil
}

// Deliver hands msg to the handler as the consumer would and returns the
// result. Deliver records of one partition in offset order; the first
// record of a partition sets where its commits start.
func (h *Harness) Deliver(ctx context.Context, msg *bulwark.Message) Result {
	tp := Partition{msg.Topic, msg.Partition}
	h.mu.Lock()
	tr := h.trackers[tp]
	if tr == nil {
		tr = offsettrack.New(msg.Offset)
		h.trackers[tp] = tr
	}
	h.mu.Unlock()
	tr.Add(msg.Offset)

	var res Result
	b := h.newBounds(&res)
	out := delivery.Deliver(ctx, b.handler(h.handler), msg, &h.cfg.policy, b.env())
	h.settle(&res, out, tr, msg)
	return res
}

// bounds is one delivery's environment: its waits go to the clock and are
// recorded in res, and its attempts are counted against the limit. A
// delivery runs on its caller's goroutine, so the counts need no lock.
type bounds struct {
	h        *Harness
	res      *Result
	calls    int // handler calls
	dlWrites int // dead-letter write tries
}

func (h *Harness) newBounds(res *Result) *bounds { return &bounds{h: h, res: res} }

// handler counts the calls of next.
func (b *bounds) handler(next bulwark.Handler) bulwark.Handler {
	return bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		b.calls++
		return next.Handle(ctx, msg)
	})
}

// batch counts the calls of next.
func (b *bounds) batch(next delivery.BatchFunc) delivery.BatchFunc {
	return func(ctx context.Context, msgs []*bulwark.Message) error {
		b.calls++
		return next(ctx, msgs)
	}
}

func (b *bounds) env() *delivery.Env {
	cfg := &b.h.cfg
	return &delivery.Env{
		// Every wait comes before another handler call or dead-letter
		// try: refusing it at the limit ends the delivery.
		Sleep: func(ctx context.Context, d time.Duration) error {
			if b.calls >= cfg.limit || b.dlWrites >= cfg.limit {
				b.res.Limited = true
				return errAttemptLimit
			}
			b.res.Waits = append(b.res.Waits, d)
			return cfg.clock.Sleep(ctx, d)
		},
		Now: cfg.clock.Now,
		DeadLetter: func(ctx context.Context, dl *bulwark.Message) error {
			b.dlWrites++
			if err := ctx.Err(); err != nil {
				return err
			}
			if cfg.dltErr != nil {
				return cfg.dltErr(dl)
			}
			return nil
		},
		OnPause: func(*bulwark.Message, error, time.Duration) { b.res.Paused = true },
	}
}

// settle records out as res and marks msg finished when it is.
func (h *Harness) settle(res *Result, out delivery.Outcome, tr *offsettrack.Partition, msg *bulwark.Message) {
	res.Attempts, res.Err, res.DeadLetter = out.Attempts, out.Err, out.DeadLetter
	switch out.Result {
	case delivery.Handled:
		res.Outcome = Handled
	case delivery.DeadLettered:
		res.Outcome = DeadLettered
		h.mu.Lock()
		h.deadLetters = append(h.deadLetters, out.DeadLetter)
		h.mu.Unlock()
	default:
		res.Outcome = Abandoned
	}
	if out.Finished() {
		tr.Done(msg.Offset)
	}
}

// NewBatch returns a harness for a batch handler, as consumer.NewBatch
// runs it. WithMiddleware does not apply and is rejected.
func NewBatch(h consumer.BatchHandler, opts ...Option) (*Harness, error) {
	if h == nil {
		return nil, ErrInvalidConfig
	}
	hs, err := New(bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		return h.HandleBatch(ctx, []*bulwark.Message{msg})
	}), opts...)
	if err != nil {
		return nil, err
	}
	if len(hs.cfg.middleware) > 0 {
		return nil, ErrInvalidConfig
	}
	hs.batch = h
	return hs, nil
}

// DeliverBatch hands msgs, consecutive records of one partition in offset
// order, to the batch handler as the consumer would (retries, BatchError,
// one-at-a-time fallback, dead letters) and returns one result per record.
// Waits and Paused are the batch's, repeated in every result.
func (h *Harness) DeliverBatch(ctx context.Context, msgs []*bulwark.Message) []Result {
	if h.batch == nil {
		panic("consumertest: DeliverBatch needs a harness made by NewBatch")
	}
	if len(msgs) == 0 {
		return nil
	}
	tp := Partition{msgs[0].Topic, msgs[0].Partition}
	h.mu.Lock()
	tr := h.trackers[tp]
	if tr == nil {
		tr = offsettrack.New(msgs[0].Offset)
		h.trackers[tp] = tr
	}
	h.mu.Unlock()
	for _, m := range msgs {
		tr.Add(m.Offset)
	}
	var shared Result
	b := h.newBounds(&shared)
	outs := delivery.DeliverBatch(ctx, b.batch(h.batch.HandleBatch), b.handler(h.handler), msgs, &h.cfg.policy, b.env())
	results := make([]Result, len(msgs))
	for i, out := range outs {
		results[i] = Result{Waits: shared.Waits, Paused: shared.Paused, Limited: shared.Limited}
		h.settle(&results[i], out, tr, msgs[i])
	}
	return results
}

// Committed returns, per partition, the offset the consumer would commit:
// the oldest record not finished, or one past the last delivered.
func (h *Harness) Committed() map[Partition]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[Partition]int64, len(h.trackers))
	for tp, tr := range h.trackers {
		out[tp] = tr.Committable()
	}
	return out
}

// DeadLetters returns the dead-letter records written so far, in order.
func (h *Harness) DeadLetters() []*bulwark.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*bulwark.Message(nil), h.deadLetters...)
}
