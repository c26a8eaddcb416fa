package consumer

import (
	"context"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer/internal/delivery"
)

// Defaults of [WithBatchSize].
const (
	DefaultBatchSize   = 100
	DefaultBatchLinger = 20 * time.Millisecond
)

// BatchHandler handles a batch of records from one partition, in offset
// order. Returning nil finishes every record of the batch. An error is
// classified as a single record's would be (bulwark.ClassOf): the batch is
// retried whole, the partition pauses on the pause class, and when the
// batch cannot succeed a [*BatchError] says which record to dead-letter;
// without one, the records are handled one at a time (batches of one) so
// that only the records that fail alone go to the dead-letter topic.
type BatchHandler interface {
	HandleBatch(ctx context.Context, batch []*bulwark.Message) error
}

// BatchHandlerFunc adapts a function to [BatchHandler].
type BatchHandlerFunc func(ctx context.Context, batch []*bulwark.Message) error

// HandleBatch calls f.
func (f BatchHandlerFunc) HandleBatch(ctx context.Context, batch []*bulwark.Message) error {
	return f(ctx, batch)
}

// BatchError is returned by a [BatchHandler] to say that batch[Index]
// failed with Err: the records before it are finished (committed without
// being handled again) and delivery goes on from Index. Err's class
// decides what happens to batch[Index], as for a single record.
type BatchError = delivery.BatchError

// WithBatchSize sets how [NewBatch] groups records: a batch closes at max
// records or linger after its first record arrived, whichever comes
// first; a batch never spans partitions. max must not exceed the
// in-flight record limit ([WithMaxInFlight]). Defaults [DefaultBatchSize],
// [DefaultBatchLinger].
func WithBatchSize(max int, linger time.Duration) Option {
	return func(c *config) {
		if max < 1 || linger < 0 {
			c.invalid("batch size must be at least 1 and linger not negative, got %d, %v", max, linger)
		}
		c.batchMax, c.batchLinger, c.batchSet = max, linger, true
	}
}

// WithBatchBytes also closes a batch of [NewBatch] before it would hold
// more than max bytes of records (key, value and header bytes, as
// [WithMaxInFlight] counts them); a record larger than max makes a batch
// of its own. max must not exceed the in-flight byte limit. Default: no
// byte bound, only [WithBatchSize].
func WithBatchBytes(max int64) Option {
	return func(c *config) {
		if max < 1 {
			c.invalid("batch bytes must be positive, got %d", max)
		}
		c.batchBytes = max
	}
}

// NewBatch is [New] for a handler of batches: records of one partition
// are handed over in batches ([WithBatchSize]), in order. Everything else
// (commits after success, retries, dead letters, pauses, in-flight
// bounds, rebalance and shutdown) works as with [New], per record of the
// batch. [WithKeyOrdering] and [WithMiddleware] do not apply (wrap the
// BatchHandler itself) and are rejected.
func NewBatch(brokers []string, group string, topics []string, handler BatchHandler, opts ...Option) (*Consumer, error) {
	if handler == nil {
		return New(brokers, group, topics, nil, opts...)
	}
	batch := func(c *config) { c.batchHandler = handler }
	return New(brokers, group, topics, singleOfBatch(handler), append([]Option{batch}, opts...)...)
}

// singleOfBatch calls h with a batch of one: the per-record fallback.
func singleOfBatch(h BatchHandler) bulwark.Handler {
	return bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		return h.HandleBatch(ctx, []*bulwark.Message{msg})
	})
}

func (c *config) validateBatch() {
	if c.batchHandler == nil {
		if c.batchSet {
			c.invalid("WithBatchSize needs NewBatch")
		}
		if c.batchBytes > 0 {
			c.invalid("WithBatchBytes needs NewBatch")
		}
		return
	}
	if c.batchBytes > c.maxBytes {
		c.invalid("batch bytes %d exceed the in-flight byte limit %d", c.batchBytes, c.maxBytes)
	}
	if c.workers > 1 {
		c.invalid("WithKeyOrdering does not apply to batch handlers: a partition's batches run in order")
	}
	if len(c.retryDelays) > 0 {
		c.invalid("WithRetryTopics does not apply to batch handlers")
	}
	if len(c.middleware) > 0 {
		c.invalid("WithMiddleware wraps single-record handlers; wrap the BatchHandler instead")
	}
	if !c.batchSet {
		c.batchMax = min(c.batchMax, c.maxRecords)
	}
	if c.batchMax > c.maxRecords {
		c.invalid("batch size %d exceeds the in-flight record limit %d", c.batchMax, c.maxRecords)
	}
}
