package produce

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/metric"
)

type options struct {
	linger          time.Duration
	maxBatchRecords int
	maxBatchBytes   int
	maxRequestBytes int
	maxInFlight     int
	maxRecordBytes  int
	maxBuffered     int
	deliveryTimeout time.Duration
	requestTimeout  time.Duration
	retryBackoff    time.Duration
	closeTimeout    time.Duration
	manual          bool
	codec           sarama.CompressionCodec
	level           int
	abort           func()
	logger          *slog.Logger
	meterProvider   metric.MeterProvider // WithMeterProvider, read by Connect
	txnID           string               // WithTransactionalID (txn.go)
	txnTimeout      time.Duration        // WithTransactionalID
	txnRetries      int                  // WithTxnRetries; 0: until the context ends
}

func defaultOptions() options {
	return options{
		maxBatchRecords: 10000,
		maxBatchBytes:   1 << 20,
		maxRequestBytes: 100 << 20,
		maxInFlight:     1,
		maxRecordBytes:  1 << 20,
		maxBuffered:     100000,
		deliveryTimeout: 2 * time.Minute,
		requestTimeout:  10 * time.Second,
		retryBackoff:    100 * time.Millisecond,
		closeTimeout:    10 * time.Second,
	}
}

// Option configures an Engine.
type Option func(*options) error

// WithLinger makes a batch wait up to d for more records before it is sent
// (default 0: a batch is sent as soon as its broker has no request in
// flight; records arriving meanwhile batch up by themselves).
func WithLinger(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("produce: negative linger %v", d)
		}
		o.linger = d
		return nil
	}
}

// WithMaxBatchRecords caps the records of one partition's batch (default 10000).
func WithMaxBatchRecords(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("produce: max batch records %d, want at least 1", n)
		}
		o.maxBatchRecords = n
		return nil
	}
}

// WithMaxBatchBytes caps the estimated encoded size of one partition's batch
// (default 1 MiB). A record larger than the cap goes in a batch of its own.
func WithMaxBatchBytes(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("produce: max batch bytes %d, want at least 1", n)
		}
		o.maxBatchBytes = n
		return nil
	}
}

// WithMaxRequestBytes caps the estimated encoded size of one produce
// request, which holds a batch of each ready partition the broker leads
// (default 100 MiB, a broker's default socket.request.max.bytes). A request
// always takes at least one batch, however large; the partitions left out
// go first in the next request.
func WithMaxRequestBytes(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("produce: max request bytes %d, want at least 1", n)
		}
		o.maxRequestBytes = n
		return nil
	}
}

// WithMaxRecordBytes sets the largest record (key, value and headers, as
// estimated for the batch size) the engine takes (default 1 MiB, sarama's
// Producer.MaxMessageBytes); a larger one fails at once with an error
// matching sarama.ErrMessageSizeTooLarge. Brokers have their own limit.
func WithMaxRecordBytes(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("produce: max record bytes %d, want at least 1", n)
		}
		o.maxRecordBytes = n
		return nil
	}
}

// WithMaxInFlight lets up to n produce requests (1 to 5, default 1) be in
// flight to one broker at a time. A partition still has one batch in
// flight at a time, so a request carries only partitions with none, and
// sequences and order per partition are exactly as with one request: the
// gain is that a broker's other partitions need not wait for a request to
// be answered. The client's Net.MaxOpenRequests must be at least n.
func WithMaxInFlight(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("produce: max in flight %d, want 1 to 5", n)
		}
		o.maxInFlight = n
		return nil
	}
}

// WithCompression compresses every record batch with codec at level
// (sarama.CompressionLevelDefault for the codec's default); sarama's
// encoder does the compressing (default: none).
func WithCompression(codec sarama.CompressionCodec, level int) Option {
	return func(o *options) error {
		switch codec {
		case sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD:
		default:
			return fmt.Errorf("produce: unknown compression codec %v", codec)
		}
		o.codec, o.level = codec, level
		return nil
	}
}

// WithMaxBufferedRecords caps the records produced whose callbacks have
// not run yet (default 100000); Produce waits for room beyond it, which
// bounds memory and pushes back on a producer faster than the cluster.
func WithMaxBufferedRecords(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("produce: max buffered records %d, want at least 1", n)
		}
		o.maxBuffered = n
		return nil
	}
}

// WithDeliveryTimeout bounds how long a record may take from Produce to
// its acknowledgement, retries included (default 2 minutes).
func WithDeliveryTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("produce: delivery timeout %v, want > 0", d)
		}
		o.deliveryTimeout = d
		return nil
	}
}

// WithRequestTimeout is how long a broker may take to replicate a produce
// request before answering REQUEST_TIMED_OUT (default 10s).
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("produce: request timeout %v, want > 0", d)
		}
		o.requestTimeout = d
		return nil
	}
}

// WithRetryBackoff is the pause before a retriable failure is retried or a
// partition's leader is looked up again (default 100ms).
func WithRetryBackoff(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("produce: negative retry backoff %v", d)
		}
		o.retryBackoff = d
		return nil
	}
}

// WithCloseTimeout bounds Close when its context has no deadline (default 10s).
func WithCloseTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("produce: close timeout %v, want > 0", d)
		}
		o.closeTimeout = d
		return nil
	}
}

// WithAbort gives Close a way to cut the client's connections (such as
// saramax.Aborter.Abort) once its bound is spent, so that a sarama call in
// progress on a sender or the router (a connection set-up, a metadata
// refresh) returns at once. Without it such a call can hold Close past its
// bound by up to the client's dial and read timeouts.
func WithAbort(abort func()) Option {
	return func(o *options) error { o.abort = abort; return nil }
}

// WithManualPartitioning honours Record.Partition instead of hashing the key.
func WithManualPartitioning() Option {
	return func(o *options) error { o.manual = true; return nil }
}

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithMeterProvider sets where [Connect] reports the client's broker
// figures (see saramax.BridgeMetrics; default: the otel global).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) error { o.meterProvider = mp; return nil }
}
