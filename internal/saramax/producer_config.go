package saramax

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
)

// ProducerSettings are the producer knobs bulwark exposes, in its own terms.
// [NewProducerConfig] turns them into a sarama configuration.
type ProducerSettings struct {
	// TransactionalID makes the producer transactional when not empty.
	TransactionalID string
	// TransactionTimeout is how long the broker lets a transaction stay open
	// (zero: sarama's default, one minute).
	TransactionTimeout time.Duration
	// RetryMax and RetryBackoff bound the producer's internal retries.
	RetryMax     int
	RetryBackoff time.Duration
	// RequestTimeout is how long a broker may take to acknowledge a produce
	// request (sarama Producer.Timeout).
	RequestTimeout time.Duration
	// Linger is how long records wait to fill a batch (zero: send at once).
	Linger time.Duration
	// MaxBatchRecords caps the records per produce request (zero: no cap).
	MaxBatchRecords int
	// MaxRecordBytes is the largest record accepted (zero: sarama's default).
	MaxRecordBytes int
	// Compression is "none", "gzip", "snappy", "lz4" or "zstd".
	Compression string
	// ManualPartitioning honours the partition set on each record instead of
	// hashing its key.
	ManualPartitioning bool
}

// Compressions lists the codec names NewProducerConfig accepts.
var Compressions = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

// NewProducerConfig returns the configuration of an idempotent producer:
// acks from all in-sync replicas, idempotence on, one request in flight per
// broker (sarama requires it for idempotence, and it keeps per-partition
// order across retries), results on both channels, and keys hashed with the
// Java client's murmur2 partitioner so Go and Java producers agree on where a
// key goes.
func NewProducerConfig(s conn.Settings, ps ProducerSettings) (*sarama.Config, error) {
	cfg, err := NewConfig(s)
	if err != nil {
		return nil, err
	}
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = ps.RetryMax
	cfg.Producer.Retry.Backoff = ps.RetryBackoff
	if ps.RequestTimeout > 0 {
		cfg.Producer.Timeout = ps.RequestTimeout
	}
	cfg.Producer.Flush.Frequency = ps.Linger
	cfg.Producer.Flush.MaxMessages = ps.MaxBatchRecords
	if ps.MaxRecordBytes > 0 {
		cfg.Producer.MaxMessageBytes = ps.MaxRecordBytes
	}
	if ps.Compression != "" {
		codec, ok := Compressions[ps.Compression]
		if !ok {
			return nil, fmt.Errorf("unknown compression %q (want none, gzip, snappy, lz4 or zstd)", ps.Compression)
		}
		cfg.Producer.Compression = codec
	}
	if ps.ManualPartitioning {
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
	} else {
		cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
	}
	if ps.TransactionalID != "" {
		cfg.Producer.Transaction.ID = ps.TransactionalID
		if ps.TransactionTimeout > 0 {
			cfg.Producer.Transaction.Timeout = ps.TransactionTimeout
		}
	}
	return cfg, nil
}

// IsPermanentProduceError reports whether a produce failure can never
// succeed on a retry of the same record: it is too large or malformed, or
// the producer's configuration rejects it.
func IsPermanentProduceError(err error) bool {
	var ce sarama.ConfigurationError
	if errors.As(err, &ce) {
		return true
	}
	for _, e := range []error{
		sarama.ErrMessageSizeTooLarge,
		sarama.ErrInvalidMessage,
		sarama.ErrInvalidMessageSize,
		sarama.ErrMessageSetSizeTooLarge,
		sarama.ErrInvalidRecord,
		sarama.ErrTopicAuthorizationFailed,
		sarama.ErrInvalidTopic,
		sarama.ErrInvalidPartitions,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ValidateProducer is [Validate] plus what the bulwark producer pipeline
// needs whatever escape-hatch edits were made: results on both channels,
// since every record's outcome is reported from them.
func ValidateProducer(cfg *sarama.Config) error {
	if err := Validate(cfg); err != nil {
		return err
	}
	if !cfg.Producer.Return.Successes || !cfg.Producer.Return.Errors {
		return fmt.Errorf("%w: Producer.Return.Successes and Producer.Return.Errors must stay true", conn.ErrInvalidSettings)
	}
	return nil
}
