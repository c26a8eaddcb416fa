package resilience

// Goroutines: a call that finds the bulkhead full and waits for a slot
// starts one goroutine sleeping its max wait on the clock; the call owns
// it and ends it (cancelling the wait's context) before returning.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/failsafe-go/failsafe-go/bulkhead"
)

// DefaultBulkheadPause is the default pause delay of a full [Bulkhead].
const DefaultBulkheadPause = 100 * time.Millisecond

type bulkheadConfig struct {
	shared
	waiting
	clock Clock
}

// Bulkhead bounds how many calls run at once. A call that finds it full
// waits for a slot up to the maximum wait ([WithMaxWait], default 1s), then
// fails with the pause class wrapping [ErrBulkheadFull]. That is
// backpressure, not failure: a consumer pauses the partition for the pause
// delay ([WithPauseDelay]) and tries the record again, so a full bulkhead
// slows fetching instead of retrying or dead-lettering records.
type Bulkhead struct {
	bh      bulkhead.Bulkhead[any]
	tel     *instruments
	clock   Clock
	maxWait time.Duration
	pause   time.Duration
	fullErr error
}

// NewBulkhead returns a bulkhead letting at most maxConcurrent calls run at
// once. See [WithMaxWait], [WithPauseDelay] and the shared [Option]s.
func NewBulkhead(maxConcurrent int, opts ...BulkheadOption) (*Bulkhead, error) {
	cfg := bulkheadConfig{waiting: waiting{maxWait: DefaultMaxWait, pauseDelay: DefaultBulkheadPause}, clock: clock.Wall{}}
	for _, o := range opts {
		if o != nil {
			o.applyBulkhead(&cfg)
		}
	}
	if maxConcurrent < 1 {
		return nil, invalid("bulkhead: max concurrent calls %d must be at least 1", maxConcurrent)
	}
	if err := cfg.validate("bulkhead"); err != nil {
		return nil, err
	}
	if cfg.clock == nil {
		return nil, invalid("bulkhead: nil clock")
	}
	tel, err := newInstruments(cfg.shared, "bulkhead")
	if err != nil {
		return nil, err
	}
	return &Bulkhead{
		bh:      bulkhead.New[any](uint(maxConcurrent)),
		tel:     tel,
		clock:   cfg.clock,
		maxWait: cfg.maxWait,
		pause:   cfg.pauseDelay,
		fullErr: fmt.Errorf("%w: %s", ErrBulkheadFull, tel.name),
	}, nil
}

// Middleware returns the bulkhead as record middleware.
func (b *Bulkhead) Middleware() bulwark.Middleware { return b.wrap }

func (b *Bulkhead) wrap(next bulwark.Handler) bulwark.Handler {
	return handlerOf[*Bulkhead]{policy: b, next: next}
}

func (b *Bulkhead) handle(ctx context.Context, msg *bulwark.Message, next bulwark.Handler) error {
	if !b.bh.TryAcquirePermit() {
		if err := b.await(ctx); err != nil {
			return err
		}
	}
	defer b.bh.ReleasePermit()
	return next.Handle(ctx, msg)
}

// await waits for a slot; only calls that found the bulkhead full get here,
// so only they are counted in the queue and wait-time metrics.
func (b *Bulkhead) await(ctx context.Context) error {
	if b.maxWait == 0 {
		b.tel.rejected(ctx)
		return bulwark.Pause(b.fullErr, b.pause)
	}
	start := b.clock.Now()
	b.tel.queued.Add(ctx, 1, b.tel.addOpts...)
	err := b.acquireWithin(ctx)
	b.tel.queued.Add(ctx, -1, b.tel.addOpts...)
	b.tel.wait.Record(ctx, b.clock.Now().Sub(start).Seconds(), b.tel.recordOpts...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bulkhead.ErrFull):
		b.tel.rejected(ctx)
		return bulwark.Pause(b.fullErr, b.pause)
	default:
		return err // the caller's context ended while waiting
	}
}

// acquireWithin waits for a slot for up to the max wait on b.clock: on an
// injected clock not with failsafe-go's AcquirePermitWithMaxWait, whose
// timer is the wall clock's. It returns bulkhead.ErrFull when the wait ran
// out.
func (b *Bulkhead) acquireWithin(ctx context.Context) error {
	if _, wall := b.clock.(clock.Wall); wall {
		// The usual case: failsafe-go's own timer, no goroutine per call.
		return b.bh.AcquirePermitWithMaxWait(ctx, b.maxWait)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if b.clock.Sleep(waitCtx, b.maxWait) == nil {
			cancel()
		}
	}()
	err := b.bh.AcquirePermit(waitCtx)
	if err != nil && ctx.Err() == nil {
		return bulkhead.ErrFull
	}
	return err
}
