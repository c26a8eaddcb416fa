package consumer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/joinerr"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ErrInvalidConfig is wrapped by every error New returns for bad
// arguments or options.
var ErrInvalidConfig = errors.New("consumer: invalid configuration")

// Defaults of the options.
const (
	DefaultMaxInFlightRecords = 10_000
	DefaultMaxInFlightBytes   = 64 << 20
	DefaultMaxAttempts        = 5
	DefaultRetryInitial       = 100 * time.Millisecond
	DefaultRetryMax           = 5 * time.Second
	DefaultPauseDelay         = 5 * time.Second
	DefaultMaxPauseDelay      = time.Minute
	DefaultGracePeriod        = 10 * time.Second
	DefaultSessionTimeout     = 10 * time.Second
	DefaultHeartbeatInterval  = 3 * time.Second
	DefaultCommitInterval     = time.Second
)

// DefaultDeadLetterTopic names the dead-letter topic "<topic>.dlt".
func DefaultDeadLetterTopic(topic string) string { return topic + ".dlt" }

type config struct {
	connOpts        []conn.Option
	middleware      []bulwark.Middleware
	workers         int
	maxRecords      int
	maxBytes        int64
	maxAttempts     int
	retryInitial    time.Duration
	retryMax        time.Duration
	retryElapsed    time.Duration
	deadLetterTopic func(string) string
	pauseDelay      time.Duration
	grace           time.Duration
	instanceID      string
	sessionTimeout  time.Duration
	heartbeat       time.Duration
	fromNewest      bool
	readUncommitted bool
	commitInterval  time.Duration
	logger          *slog.Logger
	tracerProvider  trace.TracerProvider
	meterProvider   metric.MeterProvider
	saramaTweaks    []saramaTweak
	onFetchPause    func(topic string, partition int32, paused bool) // test hook
	onDrain         func(topic string, partition int32)              // test hook: a partition starts draining
	onWatch         func(topic string, partition int32)              // test hook: a watcher starts (inline.go)
	batchHandler    BatchHandler                                     // set by NewBatch
	batchMax        int
	batchLinger     time.Duration
	batchSet        bool
	batchBytes      int64           // WithBatchBytes; 0: no bound
	retryDelays     []time.Duration // WithRetryTopics
	waitForTopics   bool            // WithWaitForTopics
	maxPauseDelay   time.Duration
	listener        bulwark.RebalanceListener             // WithRebalanceListener
	startAt         func(bulwark.TopicPartition) Position // WithStartAt
	errs            []error
}

func defaultConfig() config {
	return config{
		workers:         1,
		maxRecords:      DefaultMaxInFlightRecords,
		maxBytes:        DefaultMaxInFlightBytes,
		maxAttempts:     DefaultMaxAttempts,
		retryInitial:    DefaultRetryInitial,
		retryMax:        DefaultRetryMax,
		deadLetterTopic: DefaultDeadLetterTopic,
		pauseDelay:      DefaultPauseDelay,
		maxPauseDelay:   DefaultMaxPauseDelay,
		grace:           DefaultGracePeriod,
		sessionTimeout:  DefaultSessionTimeout,
		heartbeat:       DefaultHeartbeatInterval,
		commitInterval:  DefaultCommitInterval,
		batchMax:        DefaultBatchSize,
		batchLinger:     DefaultBatchLinger,
	}
}

func (c *config) invalid(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
}

// Option configures a Consumer.
type Option func(*config)

// WithConnection sets connection settings (client ID, TLS, SASL, ...).
func WithConnection(opts ...conn.Option) Option {
	return func(c *config) { c.connOpts = append(c.connOpts, opts...) }
}

// WithMiddleware wraps the handler; the first middleware is the outermost.
func WithMiddleware(mws ...bulwark.Middleware) Option {
	return func(c *config) { c.middleware = append(c.middleware, mws...) }
}

// WithKeyOrdering handles records of one partition on workers goroutines:
// records with the same key stay in order, records with different keys run
// in parallel. The committed offset never passes the oldest unfinished
// record. Default 1: strict partition order, with the records handled on the
// goroutine that takes them from Kafka (no hand-off per record).
func WithKeyOrdering(workers int) Option {
	return func(c *config) {
		if workers < 1 {
			c.invalid("key-ordering workers must be at least 1, got %d", workers)
		}
		c.workers = workers
	}
}

// WithMaxInFlight bounds the records and bytes (key, value, headers) taken
// from Kafka and not yet finished, over all partitions. At the limit
// fetching pauses and resumes as work drains. A single record larger than
// bytes is still let through alone. Defaults [DefaultMaxInFlightRecords],
// [DefaultMaxInFlightBytes]. A limit far below what one fetch returns
// (about 1 MiB per partition) bounds little more memory and makes fetching
// stop and start often: 1,000 records instead of 10,000 cost the no-op
// benchmark about 40% of its throughput.
func WithMaxInFlight(records int, bytes int64) Option {
	return func(c *config) {
		if records < 1 || bytes < 1 {
			c.invalid("in-flight limits must be positive, got %d records, %d bytes", records, bytes)
		}
		c.maxRecords, c.maxBytes = records, bytes
	}
}

// WithRetry sets in-place retries of retryable errors: at most maxAttempts
// handler calls per record with exponential backoff and jitter from initial
// up to max, then the record is dead-lettered. A pause-class return starts
// the count afresh: only consecutive retryable failures since the record's
// last pause count, so failed probes during a long outage (a breaker that
// half-opens, fails, opens again) never dead-letter a record. Defaults
// [DefaultMaxAttempts], [DefaultRetryInitial], [DefaultRetryMax].
func WithRetry(maxAttempts int, initial, max time.Duration) Option {
	return func(c *config) {
		if maxAttempts < 1 || initial < 0 || max < initial {
			c.invalid("retry needs maxAttempts >= 1 and 0 <= initial <= max, got %d, %v, %v", maxAttempts, initial, max)
		}
		c.maxAttempts, c.retryInitial, c.retryMax = maxAttempts, initial, max
	}
}

// WithRetryMaxElapsed bounds the time spent retrying one record, counted
// from its first failure or its first failure after a pause (time paused
// does not count); a retry
// that would end past it dead-letters the record instead. Default: no bound
// beyond the attempts.
func WithRetryMaxElapsed(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.invalid("retry max elapsed must not be negative, got %v", d)
		}
		c.retryElapsed = d
	}
}

// WithDeadLetterTopic names the dead-letter topic of each source topic.
// Default [DefaultDeadLetterTopic], the same for every group reading the
// topic: their dead letters share it, told apart by
// bulwark.HeaderDLTGroup. Name the group in the topic (e.g. topic + "." +
// group + ".dlt") for one per group.
func WithDeadLetterTopic(name func(topic string) string) Option {
	return func(c *config) {
		if name == nil {
			c.invalid("dead-letter topic function is nil")
		}
		c.deadLetterTopic = name
	}
}

// WithPauseDelay is how long a partition pauses after a pause-class error
// that carries no delay (a dependency such as Redis or the schema registry
// is down). While the record keeps pausing the delay doubles, with jitter,
// up to [WithMaxPauseDelay]; it starts afresh once the record got past
// the pause. A delay carried by the error ([bulwark.Pause]) is kept as
// given. Default [DefaultPauseDelay].
func WithPauseDelay(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid("pause delay must be positive, got %v", d)
		}
		c.pauseDelay = d
	}
}

// WithMaxPauseDelay caps the growing pause of [WithPauseDelay]; a value at
// or below the pause delay keeps the pause fixed. Default
// [DefaultMaxPauseDelay].
func WithMaxPauseDelay(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid("max pause delay must be positive, got %v", d)
		}
		c.maxPauseDelay = d
	}
}

// WithGracePeriod bounds how long records in flight may take to finish
// when their partition is revoked or Run's context ends; after it their
// handlers' contexts are cancelled and unfinished records stay uncommitted.
// Default [DefaultGracePeriod].
func WithGracePeriod(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.invalid("grace period must not be negative, got %v", d)
		}
		c.grace = d
	}
}

// WithStaticMembership sets a group instance ID (KIP-345): a restart
// within the session timeout keeps the member's partitions without a
// rebalance. Default: dynamic membership.
func WithStaticMembership(instanceID string) Option {
	return func(c *config) {
		if instanceID == "" {
			c.invalid("static membership needs an instance ID")
		}
		c.instanceID = instanceID
	}
}

// WithSessionTimeout sets how long the coordinator waits for a heartbeat
// before it drops the member. Default [DefaultSessionTimeout].
func WithSessionTimeout(d time.Duration) Option {
	return func(c *config) { c.sessionTimeout = d }
}

// WithHeartbeatInterval sets the heartbeat period. Default
// [DefaultHeartbeatInterval].
func WithHeartbeatInterval(d time.Duration) Option {
	return func(c *config) { c.heartbeat = d }
}

// WithStartFromOldest starts partitions without a committed offset at the
// oldest record (the default).
func WithStartFromOldest() Option { return func(c *config) { c.fromNewest = false } }

// WithStartFromNewest starts partitions without a committed offset at the
// end: only records produced later are consumed.
func WithStartFromNewest() Option { return func(c *config) { c.fromNewest = true } }

// WithReadCommitted sets the isolation level of fetches. With true (the
// default) the consumer reads committed records only: records of aborted
// transactions never reach the handler, and a partition's records behind
// an open transaction wait until it ends. With false (Kafka's own default,
// read_uncommitted) the handler also gets records of transactions that are
// aborted later, that is records that were never meant to exist; choose it
// only for topics without transactional producers or when such records are
// harmless, to avoid waiting behind long transactions.
//
// read_committed is the default because a library that promises not to
// lose or invent records should not hand a handler records its producer
// took back.
func WithReadCommitted(readCommitted bool) Option {
	return func(c *config) { c.readUncommitted = !readCommitted }
}

// WithCommitInterval sets how often finished offsets are committed (they
// are also committed when a partition is released and on shutdown).
// Default [DefaultCommitInterval].
func WithCommitInterval(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid("commit interval must be positive, got %v", d)
		}
		c.commitInterval = d
	}
}

// WithLogger sets the logger. Default: slog.Default() (as it is when New
// runs) passing only WARN and above, so that what an operator must act on
// is logged without configuration; pass
// slog.New(slog.DiscardHandler) to silence it.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			c.invalid("logger is nil")
		}
		c.logger = l
	}
}

// WithTracerProvider sets the tracer provider. Default: the otel global.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracerProvider = tp }
}

// WithMeterProvider sets the meter provider. Default: the otel global.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meterProvider = mp }
}

func (c *config) validate() error {
	if c.heartbeat <= 0 || c.sessionTimeout <= 0 || c.heartbeat >= c.sessionTimeout {
		c.invalid("heartbeat interval (%v) must be positive and below the session timeout (%v)", c.heartbeat, c.sessionTimeout)
	}
	c.validateBatch()
	return joinerr.Join(c.errs...)
}
