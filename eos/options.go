package eos

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"regexp"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/logging"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of the options.
const (
	// DefaultBatchSize is how many input records one transaction holds at
	// most.
	DefaultBatchSize = 500
	// DefaultBatchInterval is how long a transaction stays open at most
	// before it commits with what it has.
	DefaultBatchInterval = 100 * time.Millisecond
	// DefaultSessionTimeout is the consumer-group session timeout.
	DefaultSessionTimeout = 10 * time.Second
	// DefaultMaxAttempts bounds how often a record failing with a retryable
	// error is processed before it is dead-lettered.
	DefaultMaxAttempts = 3
	// DefaultRetryBackoff is the first pause after a retryable handler
	// error or a failed transaction; it doubles up to MaxRetryBackoff.
	DefaultRetryBackoff = 100 * time.Millisecond
	// MaxRetryBackoff caps the pause between retries.
	MaxRetryBackoff = 5 * time.Second
	// DefaultPauseDelay is how long a pause-class error without its own
	// delay stops processing.
	DefaultPauseDelay = time.Second
	// DefaultMaxPauseDelay caps the growing pause of [WithPauseDelay].
	DefaultMaxPauseDelay = time.Minute
	// DeadLetterSuffix is appended to an input topic's name to form its
	// default dead-letter topic.
	DeadLetterSuffix = ".dlt"
)

// Option configures a session. Options are applied in order and validated
// once, by New.
type Option func(*options) error

type options struct {
	connOpts           []conn.Option
	batchSize          int
	batchInterval      time.Duration
	instanceID         string
	staticMembership   bool
	sessionTimeout     time.Duration
	transactionTimeout time.Duration
	deadLetterTopic    func(string) string
	maxAttempts        int
	retryBackoff       time.Duration
	pauseDelay         time.Duration
	maxPauseDelay      time.Duration
	linger             time.Duration
	autoRestart        bool
	logger             *slog.Logger
	tracerProvider     trace.TracerProvider
	meterProvider      metric.MeterProvider
	saramaHooks        []saramaHook
	waitForTopics      bool
	listener           bulwark.RebalanceListener // WithRebalanceListener
}

func defaultOptions() options {
	return options{
		batchSize:       DefaultBatchSize,
		batchInterval:   DefaultBatchInterval,
		sessionTimeout:  DefaultSessionTimeout,
		deadLetterTopic: func(topic string) string { return topic + DeadLetterSuffix },
		maxAttempts:     DefaultMaxAttempts,
		retryBackoff:    DefaultRetryBackoff,
		pauseDelay:      DefaultPauseDelay,
		maxPauseDelay:   DefaultMaxPauseDelay,
		logger:          logging.Default(),
	}
}

var instanceIDPattern = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,200}$`)

func (o *options) validate() error {
	if o.instanceID == "" {
		if o.staticMembership {
			return invalidConfig("static membership needs a stable instance ID (WithInstanceID)")
		}
		o.instanceID = randomID()
	}
	if o.transactionTimeout == 0 {
		o.transactionTimeout = o.sessionTimeout * 3 / 4
	}
	switch {
	case o.batchSize < 1:
		return invalidConfig("batch size must be at least 1, got %d", o.batchSize)
	case o.batchInterval <= 0:
		return invalidConfig("batch interval must be positive, got %v", o.batchInterval)
	case !instanceIDPattern.MatchString(o.instanceID):
		return invalidConfig("instance ID %q must be 1-200 letters, digits, '.', '_' or '-'", o.instanceID)
	case o.sessionTimeout < time.Second:
		return invalidConfig("session timeout must be at least 1s, got %v", o.sessionTimeout)
	case o.transactionTimeout < time.Second:
		return invalidConfig("transaction timeout must be at least 1s, got %v", o.transactionTimeout)
	case o.transactionTimeout >= o.sessionTimeout:
		// A member that dies mid-transaction must have its transaction
		// aborted by the broker before its partitions are handed on, or the
		// new owner waits for it.
		return invalidConfig("transaction timeout %v must be shorter than the session timeout %v", o.transactionTimeout, o.sessionTimeout)
	case o.batchInterval >= o.transactionTimeout:
		return invalidConfig("batch interval %v must be shorter than the transaction timeout %v", o.batchInterval, o.transactionTimeout)
	case o.maxAttempts < 1:
		return invalidConfig("max attempts must be at least 1, got %d", o.maxAttempts)
	case o.retryBackoff <= 0:
		return invalidConfig("retry backoff must be positive, got %v", o.retryBackoff)
	case o.pauseDelay <= 0:
		return invalidConfig("pause delay must be positive, got %v", o.pauseDelay)
	case o.maxPauseDelay < 0:
		return invalidConfig("max pause delay must not be negative, got %v", o.maxPauseDelay)
	case o.linger < 0:
		return invalidConfig("linger must not be negative, got %v", o.linger)
	case o.deadLetterTopic == nil:
		return invalidConfig("dead-letter topic function is nil")
	case o.logger == nil:
		return invalidConfig("logger is nil")
	}
	return nil
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// WithConnection sets how to reach the cluster (TLS, SASL, client ID,
// Kafka version, dialer). The Kafka version must be 2.5.0 or newer.
func WithConnection(opts ...conn.Option) Option {
	return func(o *options) error { o.connOpts = append(o.connOpts, opts...); return nil }
}

// WithBatchSize sets how many input records one transaction holds at most.
// Default [DefaultBatchSize].
func WithBatchSize(n int) Option {
	return func(o *options) error { o.batchSize = n; return nil }
}

// WithBatchInterval sets how long a transaction stays open at most: it
// commits after this long even when it holds fewer than the batch size.
// Default [DefaultBatchInterval].
func WithBatchInterval(d time.Duration) Option {
	return func(o *options) error { o.batchInterval = d; return nil }
}

// WithInstanceID sets the stable identity of this instance (a pod name, a
// replica number). The transactional ID is prefix + "-" + id, so a
// restarted instance with the same identity fences its predecessor's
// producer and aborts its open transaction at once. Default: a random ID per
// New; correctness does not depend on it (offsets carry the group
// generation, KIP-447), but a crashed instance's open transaction then
// blocks its partitions' new owner until the transaction timeout.
// Two running instances must never share an identity: they fence each
// other.
func WithInstanceID(id string) Option {
	return func(o *options) error { o.instanceID = id; return nil }
}

// WithStaticMembership also uses the instance ID as the consumer's
// group.instance.id (KIP-345): a restart within the session timeout keeps
// its partitions without a rebalance. Needs [WithInstanceID].
func WithStaticMembership() Option {
	return func(o *options) error { o.staticMembership = true; return nil }
}

// WithSessionTimeout sets the consumer-group session timeout.
// Default [DefaultSessionTimeout]. The heartbeat interval is a sixth of it,
// the rebalance timeout twice it.
func WithSessionTimeout(d time.Duration) Option {
	return func(o *options) error { o.sessionTimeout = d; return nil }
}

// WithTransactionTimeout sets how long the broker lets a transaction stay
// open before aborting it. It must be shorter than the session timeout.
// Default: three quarters of the session timeout.
func WithTransactionTimeout(d time.Duration) Option {
	return func(o *options) error { o.transactionTimeout = d; return nil }
}

// WithDeadLetterTopic sets the dead-letter topic for records of each input
// topic. Default: the input topic + [DeadLetterSuffix]. A name Kafka would
// reject fails New. The topic must exist (or be auto-created); producing
// to it fails the transaction otherwise, which is aborted and retried with
// growing backoff (logged at WARN from the second failure in a row): the
// record is dead-lettered again without its handler running again, and
// nothing is committed past it meanwhile. The default is the same for
// every group reading the topic, so their dead letters share it, told
// apart by bulwark.HeaderDLTGroup; name the group in the topic (e.g.
// topic + "." + group + ".dlt") for one per group.
func WithDeadLetterTopic(topicFor func(inputTopic string) string) Option {
	return func(o *options) error { o.deadLetterTopic = topicFor; return nil }
}

// WithMaxAttempts bounds how often a record whose handler fails with a
// retryable error is processed before it is dead-lettered.
// Default [DefaultMaxAttempts].
func WithMaxAttempts(n int) Option {
	return func(o *options) error { o.maxAttempts = n; return nil }
}

// WithRetryBackoff sets the first pause after a retryable handler error or
// a failed transaction; it doubles on each further failure up to
// [MaxRetryBackoff]. Default [DefaultRetryBackoff].
func WithRetryBackoff(d time.Duration) Option {
	return func(o *options) error { o.retryBackoff = d; return nil }
}

// retryPolicy is the schedule WithRetryBackoff documents, used by the
// retries of a record, of a failed transaction and of a restart: exactly
// the configured backoff, doubling up to MaxRetryBackoff. No jitter, unlike
// the pauses (backoff.Pause) and txnsession's rejoins: these waits belong to
// one session's own transactional ID, so nothing else retries in step with
// them, and the user asked for the first pause to be d, not up to d. A
// pause is jittered because one unavailable dependency pauses many
// sessions at once.
func (o *options) retryPolicy() backoff.Policy {
	return backoff.Policy{Initial: o.retryBackoff, Max: MaxRetryBackoff, Jitter: backoff.None}
}

// WithPauseDelay sets how long a pause-class handler error without its own
// delay stops processing (a dependency such as Redis or the schema
// registry is down). While the same record keeps pausing the delay
// doubles, with jitter, up to [WithMaxPauseDelay]. A delay carried by the
// error (bulwark.Pause) is kept as given. Default [DefaultPauseDelay].
func WithPauseDelay(d time.Duration) Option {
	return func(o *options) error { o.pauseDelay = d; return nil }
}

// WithMaxPauseDelay caps the growing pause of [WithPauseDelay]; a value at
// or below the pause delay keeps the pause fixed. Default
// [DefaultMaxPauseDelay].
func WithMaxPauseDelay(d time.Duration) Option {
	return func(o *options) error { o.maxPauseDelay = d; return nil }
}

// WithLinger makes the producer wait up to d to fill produce requests.
// Default 0: a request goes out as soon as the previous one to that broker
// returned, which already batches under load.
func WithLinger(d time.Duration) Option {
	return func(o *options) error { o.linger = d; return nil }
}

// WithAutoRestart makes Run start a fresh producer and rejoin the group
// after its producer was fenced or failed, instead of returning the error.
// Default false.
func WithAutoRestart(on bool) Option {
	return func(o *options) error { o.autoRestart = on; return nil }
}

// WithLogger sets the logger. Default: slog.Default() (as it is when New
// runs) passing only WARN and above, so that what an operator must act on
// is logged without configuration; pass
// slog.New(slog.DiscardHandler) to silence it.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithTracerProvider sets the tracer provider. Default: the otel global.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) error { o.tracerProvider = tp; return nil }
}

// WithMeterProvider sets the meter provider. Default: the otel global.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) error { o.meterProvider = mp; return nil }
}
