package outbox

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/logging"
)

// Defaults of the options.
const (
	// DefaultTable is the outbox table unless [WithTable] says otherwise.
	DefaultTable = "bulwark_outbox"
	// DefaultBatchSize is how many rows the relay sends before it marks them.
	DefaultBatchSize = 500
	// DefaultPollInterval is how often an idle leader looks for new rows
	// and a standby relay tries to take over.
	DefaultPollInterval = 200 * time.Millisecond
	// DefaultRetryBackoff caps the pause between attempts while PostgreSQL
	// or Kafka is unavailable (it grows from the poll interval).
	DefaultRetryBackoff = 5 * time.Second
	// DefaultTakeoverGrace is how long a relay waits before it reconciles
	// rows whose sends may still be in flight: the producer's default
	// delivery timeout (30 s), plus the longest a produce request already
	// on the wire may take to be answered (10 s), plus a margin that also
	// covers how long a leader that lost its connection may go on handing
	// records over (at most 250 ms, when it checks its session).
	DefaultTakeoverGrace = 45 * time.Second
	// DefaultStopTimeout bounds how long Run, once its context ends, waits
	// for the batch in flight and marks what was sent.
	DefaultStopTimeout = 10 * time.Second
)

// Sentinels for errors.Is.
var (
	// ErrInvalidConfig is wrapped by every error New and NewRelay return
	// for a bad option or argument.
	ErrInvalidConfig = fmt.Errorf("outbox: invalid configuration")
	// ErrInvalidMessage: Place was given a nil message, no topic, or a
	// topic name Kafka would reject.
	ErrInvalidMessage = fmt.Errorf("outbox: invalid message")
	// ErrRunning: Run was called while another Run of the same relay is
	// running.
	ErrRunning = fmt.Errorf("outbox: relay already running")
)

type config struct {
	table         string
	batchSize     int
	pollInterval  time.Duration
	retryBackoff  time.Duration
	takeoverGrace time.Duration
	stopTimeout   time.Duration
	connOpts      []conn.Option
	logger        *slog.Logger
}

// Option configures [New] and [NewRelay]; the relay's options are ignored
// by New.
type Option func(*config)

// WithTable sets the outbox table (default [DefaultTable]): lowercase
// letters, digits and underscores, optionally schema-qualified
// ("orders.outbox"), at most 53 bytes after the schema, as the relay's
// positions table is named after it with a "_positions" suffix. The code
// that places rows and the relays that publish them use the same table.
func WithTable(name string) Option { return func(c *config) { c.table = name } }

// WithBatchSize sets how many rows the relay sends before it waits for
// their acknowledgements and marks them (default [DefaultBatchSize]). It
// also bounds what a reconcile reads per partition after a crash.
func WithBatchSize(n int) Option { return func(c *config) { c.batchSize = n } }

// WithPollInterval sets how often an idle leader looks for new rows and a
// standby relay tries to become the leader (default [DefaultPollInterval]).
func WithPollInterval(d time.Duration) Option { return func(c *config) { c.pollInterval = d } }

// WithRetryBackoff caps the pause between attempts while PostgreSQL or
// Kafka is unavailable (default [DefaultRetryBackoff]); pauses grow, with
// jitter, from the poll interval up to it.
func WithRetryBackoff(d time.Duration) Option { return func(c *config) { c.retryBackoff = d } }

// WithTakeoverGrace sets how long the relay waits before reconciling rows
// whose sends may still be in flight, its own after a failed batch or
// those of a leader that went away (default [DefaultTakeoverGrace]). Set
// it above the producer's delivery timeout (producer.WithDeliveryTimeout):
// a record handed to a producer can land until then, and one that lands
// after the reconcile read the partition is published twice.
func WithTakeoverGrace(d time.Duration) Option { return func(c *config) { c.takeoverGrace = d } }

// WithStopTimeout bounds how long Run waits, once its context ends or
// Close is called, for the acknowledgements of the batch in flight and for
// marking them (default [DefaultStopTimeout]). Rows still unacknowledged
// then are reconciled by the next leader.
func WithStopTimeout(d time.Duration) Option { return func(c *config) { c.stopTimeout = d } }

// WithConnection sets how the relay connects to Kafka to reconcile (the
// same options the producer takes: TLS, SASL, dialer, client ID).
func WithConnection(opts ...conn.Option) Option {
	return func(c *config) { c.connOpts = append(c.connOpts, opts...) }
}

// WithLogger sets the logger (default: slog.Default(), WARN and above).
// The relay logs at WARN when PostgreSQL or Kafka fails, and at INFO when
// it becomes the leader, reconciles, or recovers.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

var tableName = regexp.MustCompile(`^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]{0,52}$`)

func newConfig(opts []Option) (config, error) {
	c := config{
		table:         DefaultTable,
		batchSize:     DefaultBatchSize,
		pollInterval:  DefaultPollInterval,
		retryBackoff:  DefaultRetryBackoff,
		takeoverGrace: DefaultTakeoverGrace,
		stopTimeout:   DefaultStopTimeout,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	switch {
	case len(c.table) > 116 || !tableName.MatchString(c.table):
		return c, fmt.Errorf("%w: table name %q: want lowercase letters, digits and underscores (at most 53), optionally schema-qualified", ErrInvalidConfig, c.table)
	case c.batchSize <= 0:
		return c, fmt.Errorf("%w: batch size %d: want at least 1", ErrInvalidConfig, c.batchSize)
	case c.pollInterval <= 0:
		return c, fmt.Errorf("%w: poll interval %v: want > 0", ErrInvalidConfig, c.pollInterval)
	case c.retryBackoff < c.pollInterval:
		return c, fmt.Errorf("%w: retry backoff %v below the poll interval %v", ErrInvalidConfig, c.retryBackoff, c.pollInterval)
	case c.takeoverGrace < 0:
		return c, fmt.Errorf("%w: takeover grace %v is negative", ErrInvalidConfig, c.takeoverGrace)
	case c.stopTimeout <= 0:
		return c, fmt.Errorf("%w: stop timeout %v: want > 0", ErrInvalidConfig, c.stopTimeout)
	}
	if c.logger == nil {
		c.logger = logging.Default()
	}
	return c, nil
}
