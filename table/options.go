package table

import (
	"context"
	"log/slog"
	"slices"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/logging"
)

// Decoder turns a record's value bytes into a value. *schema.AvroSerde and
// *schema.StructSerde[T] are Decoders.
type Decoder interface {
	Deserialize(ctx context.Context, topic string, isKey bool, data []byte) (any, error)
}

// Option configures a table. Options are applied in order and validated
// once, by Open.
type Option func(*config) error

type config struct {
	connOpts    []conn.Option
	decoder     Decoder
	onChange    func(key, old, new []byte)
	partitions  []int32
	logger      *slog.Logger
	saramaHooks []saramaHook
	onProbe     func(partition int32, next int64) // test hook: a restore asked how far it can read
}

func defaultConfig() config {
	return config{logger: logging.Default()}
}

// WithConnection sets the connection settings (client ID, Kafka version,
// timeouts, dialer, TLS, SASL); see package conn. A bad setting fails Open
// with an error matching both [ErrInvalidConfig] and conn.ErrInvalidSettings.
func WithConnection(opts ...conn.Option) Option {
	return func(c *config) error {
		c.connOpts = append(c.connOpts, opts...)
		return nil
	}
}

// WithDecoder decodes every value as it is applied, so that [Table.Value]
// returns decoded values. A value the decoder refuses as the record's own
// fault (bulwark's permanent class) is kept as bytes and logged at WARN;
// [Table.Value] returns a [*DecodeError] for it. A decoder that fails for
// any other reason (the schema registry unavailable) is retried with
// backoff: the partition waits, so the table never skips a record for a
// fault that is not the record's. Default: none, values are bytes only.
func WithDecoder(d Decoder) Option {
	return func(c *config) error {
		if d == nil {
			return invalidConfig("decoder is nil")
		}
		c.decoder = d
		return nil
	}
}

// WithOnChange calls fn for every record that changes the table, during
// the restore and after it: a value written (old is nil for a new key) and
// a tombstone deleting a key that was present (new is nil). A tombstone
// for an absent key is no change. fn runs on the goroutine reading the
// key's partition, in offset order within the partition; calls for
// different partitions may run at the same time. fn must not modify the
// slices, may keep them, and should return quickly: its partition waits
// for it, and Close waits for a call in progress. It may call the table's
// read methods. Default: none.
func WithOnChange(fn func(key, old, new []byte)) Option {
	return func(c *config) error {
		if fn == nil {
			return invalidConfig("change callback is nil")
		}
		c.onChange = fn
		return nil
	}
}

// WithPartitions restricts the table to some of the topic's partitions, as
// a service owning those partitions of a co-partitioned topic needs.
// Partitions the topic does not have fail Open. Default: every partition
// the topic has when Open runs.
func WithPartitions(partitions ...int32) Option {
	return func(c *config) error {
		if len(partitions) == 0 {
			return invalidConfig("no partitions given")
		}
		for _, p := range partitions {
			if p < 0 {
				return invalidConfig("negative partition %d", p)
			}
		}
		c.partitions = slices.Compact(slices.Sorted(slices.Values(partitions)))
		return nil
	}
}

// WithLogger sets the logger. Default: slog.Default() (as it is when Open
// runs) passing only WARN and above, so that what an operator must act on
// is logged without configuration; pass slog.New(slog.DiscardHandler) to
// silence it.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalidConfig("logger is nil")
		}
		c.logger = l
		return nil
	}
}
