package producer

import (
	"context"

	"github.com/bulwarkgo/bulwark"
)

// Result says where a record was written.
type Result struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Producer is an idempotent Kafka producer. It is safe for concurrent use.
type Producer struct {
	pipe *pipeline
}

// New connects to the cluster at brokers and returns an idempotent producer:
// acknowledgements from all in-sync replicas, idempotence on (so internal
// retries neither duplicate nor reorder records of a partition), one request
// in flight per broker, retries spread over the delivery timeout.
//
// New connects eagerly: it fetches cluster metadata and a producer ID before
// it returns, so a wrong address or bad credentials fail here, not at the
// first Send. It gives up after the connect timeout (conn.WithConnectTimeout,
// default 30 s) with a *conn.ConnectError; each broker connection's set-up
// (dial, TLS, the broker's first answer) is bounded by the dial timeout, so
// a listener that accepts and never answers costs that much per attempt.
// [NewContext] bounds it by a context as well. A bad option or broker
// address fails with an error wrapping [ErrInvalidConfig].
func New(brokers []string, opts ...Option) (*Producer, error) {
	return NewContext(context.Background(), brokers, opts...)
}

// NewContext is [New], also giving up when ctx ends (with a
// *conn.ConnectError that matches ctx's error too). ctx bounds only
// connecting: the producer outlives it.
func NewContext(ctx context.Context, brokers []string, opts ...Option) (*Producer, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	pipe, err := newPipeline(ctx, brokers, cfg, "")
	if err != nil {
		return nil, err
	}
	return &Producer{pipe: pipe}, nil
}

// Send sends msg and waits until the cluster acknowledges it, ctx ends, or
// the delivery timeout passes ([ErrDeliveryTimeout]). When ctx ends or the
// timeout passes after the record was handed over, the record may still be
// written.
//
// Every record gets a unique message-ID header ([bulwark.HeaderMessageID])
// unless msg already has one; it is the same on every internal retry. The
// trace context of ctx goes into the headers too. msg itself is not
// modified, but its key, value and header bytes must not change until Send
// returns.
func (p *Producer) Send(ctx context.Context, msg *bulwark.Message) (Result, error) {
	return p.pipe.sendSync(ctx, msg)
}

// SendAsync hands msg to the producer and returns; done is called exactly
// once with the outcome, by the delivery timeout at the latest
// ([ErrDeliveryTimeout]). It returns early, calling done with the error,
// when ctx ends, the producer closes or the delivery timeout passes before
// the record could be handed over (the producer only blocks when its
// buffers are full).
//
// done runs on the producer's result goroutine (or, for a record that timed
// out, its timeout goroutine); callbacks never run concurrently. Keep done
// short and do not call Send, Flush or Close from it (they wait for those
// goroutines). msg must not change until done is called, nor after a
// timeout while the producer is open: the client may still be retrying it.
// Records of one partition are written, and their callbacks called, in the
// order of SendAsync calls.
func (p *Producer) SendAsync(ctx context.Context, msg *bulwark.Message, done func(Result, error)) {
	p.pipe.sendAsync(ctx, msg, done)
}

// Flush waits until every record handed to the producer so far has an
// outcome, or ctx ends. As every record has one by the delivery timeout,
// so does Flush.
func (p *Producer) Flush(ctx context.Context) error {
	return p.pipe.flush(ctx)
}

// Close stops accepting records (later sends fail with [bulwark.ErrClosed]),
// waits up to the close timeout for the records in flight, and disconnects.
// It returns an error if records were still in flight when the timeout
// passed; those are settled in the background (usually failing, as the
// client is shutting down) and their callbacks are still called. Close is
// idempotent: later calls return the first one's result.
func (p *Producer) Close() error {
	return p.pipe.close()
}
