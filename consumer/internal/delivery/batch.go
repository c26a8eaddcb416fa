package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/fate"
)

// BatchError says which record of a batch failed: the records before Index
// succeeded, the one at Index failed with Err, the ones after it were not
// handled.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("batch record %d: %v", e.Index, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// BatchFunc handles a batch of records from one partition, in offset order.
type BatchFunc func(ctx context.Context, batch []*bulwark.Message) error

// DeliverBatch runs h on msgs until the batch is handled or ctx ends,
// retrying it whole as [Deliver] retries one record (same policy, same
// hooks, reported against the batch's first record). When the batch
// cannot succeed (a permanent error, or retries used up):
//
//   - a [*BatchError] with Index 0 dead-letters the first record; the rest
//     are delivered again as a batch of their own (a [*BatchError] with a
//     later Index marks the records before it handled at once, whatever
//     its class, and the rest are delivered again from the failed one);
//   - any other error leaves unknown which record is at fault, so each
//     record is delivered alone through single (a handler calling h with
//     one record) and only those that fail alone are dead-lettered.
//
// It returns one outcome per record.
func DeliverBatch(ctx context.Context, h BatchFunc, single bulwark.Handler, msgs []*bulwark.Message, p *Policy, env *Env) []Outcome {
	out := make([]Outcome, len(msgs))
	for len(msgs) > 0 {
		n := deliverBatchOnce(ctx, h, single, msgs, out[len(out)-len(msgs):], p, env)
		msgs = msgs[n:]
	}
	return out
}

// deliverBatchOnce fills outcomes for a prefix of msgs and returns its
// length; the caller delivers the rest as a new batch.
func deliverBatchOnce(ctx context.Context, h BatchFunc, single bulwark.Handler, msgs []*bulwark.Message, out []Outcome, p *Policy, env *Env) int {
	first := msgs[0]
	f := failures{State: fate.State{Limits: &p.Limits}, env: env, msg: first}
	defer f.end()
	attempts := 0
	all := func(r Result, err error) int {
		for i := range out {
			out[i] = Outcome{Result: r, Attempts: attempts, Err: err}
		}
		return len(msgs)
	}
	for {
		attempts++
		for _, m := range msgs {
			m.Attempt = attempts
		}
		err := safeHandleBatch(ctx, h, msgs)
		if err == nil {
			return all(Handled, nil)
		}
		d := f.decide(ctx, err)
		if d.Kind == fate.Stop {
			return all(Abandoned, err)
		}
		// Records before a reported failure are done: keep them, and
		// deliver the rest (failed record first) as a new batch.
		var be *BatchError
		if errors.As(err, &be) && be.Index > 0 && be.Index < len(msgs) {
			for i := range be.Index {
				out[i] = Outcome{Result: Handled, Attempts: attempts}
			}
			return be.Index
		}
		if d.Kind != fate.DeadLetter {
			if !f.wait(ctx, err, d) {
				return all(Abandoned, err)
			}
			continue
		}
		if be != nil && be.Index == 0 {
			out[0] = deadLetter(ctx, first, be.Err, attempts, p, env)
			if !out[0].Finished() {
				return all(Abandoned, err)
			}
			return 1
		}
		for i, m := range msgs {
			out[i] = Deliver(ctx, single, m, p, env)
			if !out[i].Finished() {
				for j := i + 1; j < len(msgs); j++ {
					out[j] = Outcome{Result: Abandoned, Attempts: 0, Err: ctx.Err()}
				}
				break
			}
		}
		return len(msgs)
	}
}

// safeHandleBatch is safeHandle for a batch.
func safeHandleBatch(ctx context.Context, h BatchFunc, msgs []*bulwark.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("batch handler panic: %v", r)
		}
	}()
	return h(ctx, msgs)
}
