package producer

import (
	"log/slog"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/logging"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of the options.
const (
	// DefaultDeliveryTimeout bounds how long a record may take from Send to
	// acknowledgement, retries included.
	DefaultDeliveryTimeout = 30 * time.Second
	// DefaultRetryBackoff is the pause between internal retries.
	DefaultRetryBackoff = 100 * time.Millisecond
	// DefaultCloseTimeout bounds how long Close waits for records in flight.
	DefaultCloseTimeout = 10 * time.Second
	// DefaultCompression sends records uncompressed.
	DefaultCompression = "none"
	// maxRequestTimeout caps how long one produce request may wait for its
	// acknowledgement (Kafka's request.timeout.ms is similar).
	maxRequestTimeout = 10 * time.Second
)

// Option configures a producer. Options are applied in order and validated
// once, by New or NewTransactional.
type Option func(*config) error

type config struct {
	connOpts           []conn.Option
	deliveryTimeout    time.Duration
	retryBackoff       time.Duration
	linger             time.Duration
	maxBatchRecords    int
	maxRecordBytes     int
	maxBufferedRecords int
	maxInFlight        int
	maxRequestBytes    int
	compression        string
	closeTimeout       time.Duration
	manualPartitioning bool
	transactionTimeout time.Duration
	logger             *slog.Logger
	tracerProvider     trace.TracerProvider
	meterProvider      metric.MeterProvider
	saramaHooks        []saramaHook
}

func defaultConfig() config {
	return config{
		deliveryTimeout: DefaultDeliveryTimeout,
		retryBackoff:    DefaultRetryBackoff,
		closeTimeout:    DefaultCloseTimeout,
		compression:     DefaultCompression,
		logger:          logging.Default(),
	}
}

func (c *config) validate() error {
	switch {
	case c.deliveryTimeout <= 0:
		return invalidConfig("delivery timeout must be positive, got %v", c.deliveryTimeout)
	case c.retryBackoff <= 0:
		return invalidConfig("retry backoff must be positive, got %v", c.retryBackoff)
	case c.retryBackoff >= c.deliveryTimeout:
		return invalidConfig("retry backoff %v must be shorter than the delivery timeout %v", c.retryBackoff, c.deliveryTimeout)
	case c.linger < 0:
		return invalidConfig("linger must not be negative, got %v", c.linger)
	case c.maxBatchRecords < 0:
		return invalidConfig("max batch records must not be negative, got %d", c.maxBatchRecords)
	case c.maxRecordBytes < 0:
		return invalidConfig("max record bytes must not be negative, got %d", c.maxRecordBytes)
	case c.maxBufferedRecords < 0:
		return invalidConfig("max buffered records must not be negative, got %d", c.maxBufferedRecords)
	case c.maxInFlight < 0 || c.maxInFlight > maxInFlightLimit:
		return invalidConfig("max in flight must be 0 (the default) to %d, got %d", maxInFlightLimit, c.maxInFlight)
	case c.maxRequestBytes < 0:
		return invalidConfig("max request bytes must not be negative, got %d", c.maxRequestBytes)
	case c.closeTimeout <= 0:
		return invalidConfig("close timeout must be positive, got %v", c.closeTimeout)
	case c.transactionTimeout < 0:
		return invalidConfig("transaction timeout must not be negative, got %v", c.transactionTimeout)
	}
	switch c.compression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		return invalidConfig("unknown compression %q (want none, gzip, snappy, lz4 or zstd)", c.compression)
	}
	return nil
}

// retryMax spreads the delivery timeout over retries at the backoff, so the
// producer stops retrying a record at about the delivery timeout.
func (c *config) retryMax() int {
	return max(1, int(c.deliveryTimeout/c.retryBackoff))
}

func (c *config) requestTimeout() time.Duration {
	return min(maxRequestTimeout, c.deliveryTimeout)
}

// WithConnection sets the connection settings (client ID, Kafka version,
// timeouts, dialer, TLS, SASL); see package conn. A bad setting fails New
// with an error matching both [ErrInvalidConfig] and conn.ErrInvalidSettings.
func WithConnection(opts ...conn.Option) Option {
	return func(c *config) error {
		c.connOpts = append(c.connOpts, opts...)
		return nil
	}
}

// WithDeliveryTimeout bounds the time from Send or SendAsync to a record's
// outcome. Internal retries are spread over it (their number is the timeout
// divided by the retry backoff); a record still without an acknowledgement
// when it has passed (a hung broker can hold one attempt for the network
// read timeout) fails with [ErrDeliveryTimeout], at most about a tenth of
// the timeout late. Send, SendAsync's callback and Flush are bounded by it.
// Default [DefaultDeliveryTimeout].
func WithDeliveryTimeout(d time.Duration) Option {
	return func(c *config) error { c.deliveryTimeout = d; return nil }
}

// WithRetryBackoff sets the pause between internal retries of a record.
// Default [DefaultRetryBackoff].
func WithRetryBackoff(d time.Duration) Option {
	return func(c *config) error { c.retryBackoff = d; return nil }
}

// WithLinger lets records wait up to d for more records to share their
// produce request. Zero (the default) sends at once; records arriving while
// a request is in flight still go together in the next one.
func WithLinger(d time.Duration) Option {
	return func(c *config) error { c.linger = d; return nil }
}

// WithMaxBatchRecords caps the records of one partition's batch in a
// produce request. Default 0: 10,000 per batch, and no more than fit in
// 1 MiB.
func WithMaxBatchRecords(n int) Option {
	return func(c *config) error { c.maxBatchRecords = n; return nil }
}

// WithMaxRecordBytes sets the largest record (key, value and headers) the
// producer accepts; larger ones fail with a permanent error. Default 0:
// 1 MiB. Brokers have their own limit.
func WithMaxRecordBytes(n int) Option {
	return func(c *config) error { c.maxRecordBytes = n; return nil }
}

// WithMaxBufferedRecords caps the records handed to the producer whose
// outcome it does not have yet: Send and SendAsync (and a transaction's
// sends) wait for room beyond it, within the delivery timeout and their
// context, which bounds memory and pushes back on a sender faster than the
// cluster. Default 0: 100,000.
func WithMaxBufferedRecords(n int) Option {
	return func(c *config) error { c.maxBufferedRecords = n; return nil }
}

// maxInFlightLimit is the most produce requests an idempotent producer
// may have in flight to one broker: the broker checks sequences only for
// its five latest batches of a producer and partition.
const maxInFlightLimit = 5

// WithMaxInFlight lets up to n produce requests (1 to 5) be in flight to
// one broker at a time, so a broker's partitions need not wait for each
// other's acknowledgements. A partition still has one batch in flight at a
// time: its order and sequence numbers stay exactly as with one request,
// retries included. Default 0: one request.
func WithMaxInFlight(n int) Option {
	return func(c *config) error { c.maxInFlight = n; return nil }
}

// WithMaxRequestBytes caps the estimated size of one produce request,
// which holds a batch of each ready partition the broker leads; a request
// always takes at least one batch, and the partitions left out go first in
// the next. Default 0: 100 MiB (a broker's default
// socket.request.max.bytes).
func WithMaxRequestBytes(n int) Option {
	return func(c *config) error { c.maxRequestBytes = n; return nil }
}

// WithCompression compresses record batches: "none", "gzip", "snappy",
// "lz4" or "zstd". Default [DefaultCompression].
func WithCompression(codec string) Option {
	return func(c *config) error { c.compression = codec; return nil }
}

// WithCloseTimeout bounds how long Close waits for records in flight to be
// acknowledged. Default [DefaultCloseTimeout].
func WithCloseTimeout(d time.Duration) Option {
	return func(c *config) error { c.closeTimeout = d; return nil }
}

// WithManualPartitioning sends each record to its Message.Partition instead
// of choosing the partition from its key. A partition that does not exist
// fails the record. Default: off; records with a key go to
// murmur2(key) mod partitions, as with the Java client's default
// partitioner, and records without a key to a random partition.
func WithManualPartitioning() Option {
	return func(c *config) error { c.manualPartitioning = true; return nil }
}

// WithTransactionTimeout sets how long the broker lets a transaction stay
// open before aborting it (transactional producers only). Default one
// minute.
func WithTransactionTimeout(d time.Duration) Option {
	return func(c *config) error { c.transactionTimeout = d; return nil }
}

// WithLogger sets the logger. Default: slog.Default() (as it is when New
// runs) passing only WARN and above, so that what an operator must act on
// is logged without configuration; pass
// slog.New(slog.DiscardHandler) to silence it.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalidConfig("logger is nil")
		}
		c.logger = l
		return nil
	}
}

// WithTracerProvider sets where producer spans go. Default: the otel global
// tracer provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error { c.tracerProvider = tp; return nil }
}

// WithMeterProvider sets where producer metrics go. Default: the otel
// global meter provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error { c.meterProvider = mp; return nil }
}
