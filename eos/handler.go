package eos

import (
	"context"

	"github.com/bulwarkgo/bulwark"
)

// Emitter collects the output records of one input record.
type Emitter interface {
	// Emit adds msg to the outputs. Topic must be set; the key is hashed
	// like the Java client does (murmur2) and Partition is ignored. The
	// session owns msg from here on: do not change it after Emit.
	Emit(msg *bulwark.Message)
}

// Handler turns one input record into zero or more output records.
//
// Process may run more than once for the same input: after an aborted
// transaction (a broker error, a rebalance, a retryable error of this or an
// earlier record of the same batch) the batch is processed again. Only the
// outputs of the attempt whose transaction commits become visible to
// read_committed consumers; side effects outside Kafka are not covered.
//
// The returned error's class ([bulwark.ClassOf]) decides what happens:
// permanent: the input goes to the dead-letter topic inside the same
// transaction and its outputs are dropped; retryable: the transaction is
// aborted and the batch processed again, with backoff, up to the attempt
// limit, then dead-lettered; pause: the transaction is aborted and the batch
// processed again after the pause delay, without limit.
//
// ctx is cancelled when the partitions are being revoked or Run stops.
type Handler interface {
	Process(ctx context.Context, in *bulwark.Message, out Emitter) error
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ctx context.Context, in *bulwark.Message, out Emitter) error

// Process calls f(ctx, in, out).
func (f HandlerFunc) Process(ctx context.Context, in *bulwark.Message, out Emitter) error {
	return f(ctx, in, out)
}

// outputs is the Emitter handed to the handler: outputs are held back until
// the handler returned nil, so a failed record sends nothing.
type outputs struct{ msgs []*bulwark.Message }

func (o *outputs) Emit(msg *bulwark.Message) {
	if msg != nil {
		o.msgs = append(o.msgs, msg)
	}
}

func (o *outputs) reset() {
	clear(o.msgs)
	o.msgs = o.msgs[:0]
}
