package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of [NewBreaker].
const (
	DefaultConsecutiveFailures = 5
	DefaultOpenDelay           = 30 * time.Second
	DefaultHalfOpenProbes      = 1
)

// BreakerState is the state of a [Breaker].
type BreakerState int

// The values are those of the bulwark.resilience.breaker.state gauge.
const (
	// BreakerClosed: calls go through; outcomes are counted.
	BreakerClosed BreakerState = 0
	// BreakerOpen: calls are rejected with [ErrBreakerOpen] until the open
	// delay has passed.
	BreakerOpen BreakerState = 1
	// BreakerHalfOpen: a limited number of probe calls go through; their
	// outcome closes or reopens the breaker.
	BreakerHalfOpen BreakerState = 2
)

func (s BreakerState) String() string {
	switch s {
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	default:
		return "closed"
	}
}

func stateOf(s circuitbreaker.State) BreakerState {
	switch s {
	case circuitbreaker.OpenState:
		return BreakerOpen
	case circuitbreaker.HalfOpenState:
		return BreakerHalfOpen
	default:
		return BreakerClosed
	}
}

type breakerConfig struct {
	shared
	consecutive   int
	rate          float64
	rateMinCalls  int
	rateWindow    time.Duration
	openDelay     time.Duration
	probes        int
	countsFailure func(error) bool
	clock         Clock
}

type breakerOption func(*breakerConfig)

func (o breakerOption) applyBreaker(c *breakerConfig) { o(c) }

// WithConsecutiveFailures opens the breaker after n failures in a row
// (default 5). It excludes [WithFailureRate]: a breaker has one opening rule.
func WithConsecutiveFailures(n int) BreakerOption {
	return breakerOption(func(c *breakerConfig) { c.consecutive = n })
}

// WithFailureRate opens the breaker when the share of failed calls within
// the last window reaches rate (0 < rate <= 1), once at least minCalls calls
// were made in that window. The window slides in tenths, on the breaker's
// clock ([WithClock]). It replaces the
// default consecutive-failure rule and excludes [WithConsecutiveFailures].
func WithFailureRate(rate float64, minCalls int, window time.Duration) BreakerOption {
	return breakerOption(func(c *breakerConfig) {
		c.rate, c.rateMinCalls, c.rateWindow = rate, minCalls, window
	})
}

// WithOpenDelay sets how long the breaker stays open before it lets probes
// through (default 30s).
func WithOpenDelay(d time.Duration) BreakerOption {
	return breakerOption(func(c *breakerConfig) { c.openDelay = d })
}

// WithHalfOpenProbes sets how many calls the half-open breaker lets through
// at a time (default 1). All of them must succeed to close it; the first
// failure reopens it.
func WithHalfOpenProbes(n int) BreakerOption {
	return breakerOption(func(c *breakerConfig) { c.probes = n })
}

// WithFailureClassifier decides which errors count as failures of the
// guarded dependency. The default, [CountsAsFailure], counts retryable
// errors only. An error that does not count is recorded as a success: the
// dependency answered. A nil error is never passed to it.
func WithFailureClassifier(countsFailure func(err error) bool) BreakerOption {
	return breakerOption(func(c *breakerConfig) { c.countsFailure = countsFailure })
}

// CountsAsFailure is the default breaker classifier. It counts an error
// whose class is retryable (which includes [*TimeoutError] and errors of no
// declared class), and does not count:
//   - permanent errors: the dependency answered, the request was bad;
//   - pause-class errors: an inner policy rejected the call before it was
//     made (another breaker open, a bulkhead full, a rate limit);
//   - context.Canceled: the caller gave up, which says nothing about the
//     dependency.
//
// failsafe-go's breaker can only release a permit by recording an outcome,
// so an error that does not count is recorded as a success. For a pause
// error from an inner policy that means a half-open probe may close the
// breaker without having reached the dependency: put bulkheads and rate
// limiters outside the breaker, as [Chain] recommends.
func CountsAsFailure(err error) bool {
	return err != nil && bulwark.ClassOf(err) == bulwark.ClassRetryable && !errors.Is(err, context.Canceled)
}

// Breaker is a circuit breaker guarding one dependency. While it is open,
// calls are not made: they fail with the pause class wrapping
// [ErrBreakerOpen], with the delay until the breaker lets a probe through,
// so that a consumer pauses the partition (no commit, no dead letter, no
// busy loop) and resumes in time for the probe.
type Breaker struct {
	cb        circuitbreaker.CircuitBreaker[any]
	tel       *instruments
	openErr   error
	busyDelay time.Duration
	clock     Clock
	openDelay time.Duration
	// counts decides which outcomes the failure-rate window counts as
	// failures (failsafe-go's HandleIf decides for its own counts).
	counts func(error) bool

	// window is the failure-rate rule's ([WithFailureRate]), nil with the
	// consecutive-failure rule: failsafe-go counts a closed breaker's
	// outcomes in a wall-clock window, so with a rate rule the breaker
	// counts them itself, on clock, and opens cb when the rate is reached;
	// cb still runs the states, the half-open probes and the listener.
	window *failureWindow

	// failsafe-go measures the open delay on the wall clock, with no way to
	// give it another; so cb is given a delay it never reaches, and the
	// breaker half-opens it itself once openDelay has passed on clock since
	// openedAt. mu orders every call into cb with openedAt (mu, then cb's
	// lock; cb's state listener, called under mu, must not take it).
	mu       sync.Mutex
	openedAt time.Time

	closeOnce sync.Once
	reg       metric.Registration
}

// NewBreaker returns a closed circuit breaker. See [WithConsecutiveFailures],
// [WithFailureRate], [WithOpenDelay], [WithHalfOpenProbes],
// [WithFailureClassifier] and the shared [Option]s. Call [Breaker.Close]
// when done with it to stop reporting its state gauge.
func NewBreaker(opts ...BreakerOption) (*Breaker, error) {
	cfg := breakerConfig{
		openDelay:     DefaultOpenDelay,
		probes:        DefaultHalfOpenProbes,
		countsFailure: CountsAsFailure,
		clock:         clock.Wall{},
	}
	for _, o := range opts {
		if o != nil {
			o.applyBreaker(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tel, err := newInstruments(cfg.shared, "breaker")
	if err != nil {
		return nil, err
	}
	b := &Breaker{tel: tel, clock: cfg.clock, openDelay: cfg.openDelay, counts: cfg.countsFailure}
	b.openErr = fmt.Errorf("%w: %s", ErrBreakerOpen, tel.name)
	// While half-open with every probe in flight there is no known delay;
	// check again after a fraction of the open delay.
	b.busyDelay = min(max(cfg.openDelay/10, 10*time.Millisecond), time.Second)

	countsFailure := cfg.countsFailure
	builder := circuitbreaker.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return err != nil && countsFailure(err) }).
		WithDelay(neverHalfOpens).
		WithSuccessThreshold(uint(cfg.probes)).
		OnStateChanged(b.stateChanged)
	if cfg.rate > 0 {
		// No rule for cb's closed state: it is never given a closed
		// breaker's outcome (see Breaker.window).
		b.window = newFailureWindow(cfg.rate, cfg.rateMinCalls, cfg.rateWindow, cfg.clock.Now())
	} else {
		builder = builder.WithFailureThreshold(uint(cfg.consecutive))
	}
	b.cb = builder.Build()

	gauge, err := tel.meter.Int64ObservableGauge(MetricBreakerState,
		metric.WithDescription("Circuit breaker state: 0 closed, 1 open, 2 half-open."))
	if err != nil {
		return nil, err
	}
	b.reg, err = tel.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(gauge, int64(b.State()), metric.WithAttributeSet(tel.attrs))
		return nil
	}, gauge)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (c *breakerConfig) validate() error {
	switch {
	case c.consecutive != 0 && c.rate != 0:
		return invalid("breaker: WithConsecutiveFailures and WithFailureRate exclude each other")
	case c.rate != 0 && (c.rate < 0 || c.rate > 1):
		return invalid("breaker: failure rate %v is not within (0, 1]", c.rate)
	case c.rate != 0 && c.rateMinCalls < 1:
		return invalid("breaker: failure rate needs at least 1 call per window, got %d", c.rateMinCalls)
	case c.rate != 0 && c.rateWindow <= 0:
		return invalid("breaker: failure rate window %s must be positive", c.rateWindow)
	case c.consecutive < 0:
		return invalid("breaker: consecutive failures %d is negative", c.consecutive)
	case c.openDelay <= 0:
		return invalid("breaker: open delay %s must be positive", c.openDelay)
	case c.probes < 1:
		return invalid("breaker: half-open probes %d must be at least 1", c.probes)
	case c.countsFailure == nil:
		return invalid("breaker: nil failure classifier")
	case c.clock == nil:
		return invalid("breaker: nil clock")
	}
	if c.rate == 0 && c.consecutive == 0 {
		c.consecutive = DefaultConsecutiveFailures
	}
	return nil
}

// State returns the breaker's current state. An open breaker whose delay
// has passed reports open until a call asks for a permit.
func (b *Breaker) State() BreakerState { return stateOf(b.cb.State()) }

// RemainingDelay returns how long the breaker stays open; zero unless open.
func (b *Breaker) RemainingDelay() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.remainingLocked()
}

// neverHalfOpens is failsafe-go's open delay: a century, so that only the
// breaker's own clock half-opens it (see Breaker.mu).
const neverHalfOpens = 100 * 365 * 24 * time.Hour

func (b *Breaker) remainingLocked() time.Duration {
	if !b.cb.IsOpen() {
		return 0
	}
	return max(0, b.openedAt.Add(b.openDelay).Sub(b.clock.Now()))
}

// acquire asks for a permit, half-opening the breaker first when its open
// delay has passed; without one it returns the delay until a probe may go.
func (b *Breaker) acquire() (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cb.IsOpen() && !b.clock.Now().Before(b.openedAt.Add(b.openDelay)) {
		b.cb.HalfOpen()
	}
	if b.cb.TryAcquirePermit() {
		return true, 0
	}
	if d := b.remainingLocked(); d > 0 {
		return false, d
	}
	// Half-open with every probe in flight: no known delay.
	return false, b.busyDelay
}

// record records a call's outcome (err, or a failure if panicked) and
// notes when it opened the breaker.
func (b *Breaker) record(err error, panicked bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.window != nil && b.cb.IsClosed() {
		failed := panicked || (err != nil && b.counts(err))
		if b.window.record(failed, b.clock.Now()) {
			b.cb.Open()
			b.openedAt = b.clock.Now()
		}
		return
	}
	wasOpen := b.cb.IsOpen()
	if panicked {
		b.cb.RecordFailure()
	} else {
		b.cb.RecordError(err)
	}
	// Under mu, no call sees the breaker open before openedAt is set.
	if !wasOpen && b.cb.IsOpen() {
		b.openedAt = b.clock.Now()
	}
}

// Close stops reporting the breaker's state gauge. The breaker keeps
// working. Close is idempotent.
func (b *Breaker) Close() error {
	var err error
	b.closeOnce.Do(func() { err = b.reg.Unregister() })
	return err
}

// Middleware returns the breaker as record middleware.
func (b *Breaker) Middleware() bulwark.Middleware { return b.wrap }

func (b *Breaker) wrap(next bulwark.Handler) bulwark.Handler {
	return handlerOf[*Breaker]{policy: b, next: next}
}

func (b *Breaker) handle(ctx context.Context, msg *bulwark.Message, next bulwark.Handler) error {
	if ok, delay := b.acquire(); !ok {
		b.tel.rejected(ctx)
		return bulwark.Pause(b.openErr, delay)
	}
	recorded := false
	defer func() {
		// A panicking call must still give back its permit, or a half-open
		// breaker would never let another probe through.
		if !recorded {
			b.record(nil, true)
		}
	}()
	err := next.Handle(ctx, msg)
	recorded = true
	b.record(err, false)
	return err
}

// stateChanged is failsafe-go's listener; it runs outside failsafe-go's
// lock but under b.mu, so it must not take b.mu.
func (b *Breaker) stateChanged(ev circuitbreaker.StateChangedEvent) {
	from, to := stateOf(ev.OldState), stateOf(ev.NewState)
	ctx := context.Background()
	b.tel.transitions.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(
		append(b.tel.attrs.ToSlice(), attrState.String(to.String()))...)))
	args := []any{"from", from.String(), "to", to.String()}
	if to == BreakerClosed && b.window != nil {
		b.window.reset(b.clock.Now()) // as failsafe-go's counts start anew
	}
	if to == BreakerOpen {
		// Not ev.Metrics(): failsafe-go v0.9.8 reads those counts without
		// its lock, racing with calls recorded meanwhile. cb.Metrics()
		// locks; once open it reports the previous state's counts, which
		// for a closed breaker with a rate rule are the window's.
		cm := b.cb.Metrics()
		calls, failures := int(cm.Executions()), int(cm.Failures())
		if from == BreakerClosed && b.window != nil {
			calls, failures = b.window.calls, b.window.failures
		}
		args = append(args, "calls", calls, "failures", failures, "delay", b.openDelay)
		b.tel.logger.WarnContext(ctx, "resilience: circuit breaker opened", args...)
		return
	}
	b.tel.logger.InfoContext(ctx, "resilience: circuit breaker state changed", args...)
}
