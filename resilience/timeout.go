package resilience

import (
	"context"
	"errors"
	"time"

	"github.com/bulwarkgo/bulwark"
)

type timeoutConfig struct {
	shared
}

// Timeout bounds each call through its context: the call gets a context
// that expires after the limit, and a call that returns an error after it
// expired gets a [*TimeoutError] (matching [ErrTimeout] and
// context.DeadlineExceeded; retryable unless the call's error says
// otherwise). A call that returns nil is a success even if it ran past the
// limit: the work was done, and failing it would only do it again.
//
// The call must honour its context; Timeout does not abandon a running
// call, so a handler is never left running behind the consumer's back.
// failsafe-go's timeout policy is not used here: it derives the same
// context deadline but through a per-call execution that costs about ten
// allocations more.
type Timeout struct {
	limit time.Duration
	tel   *instruments
}

// NewTimeout returns a timeout policy with the given per-call limit. See the
// shared [Option]s.
func NewTimeout(limit time.Duration, opts ...TimeoutOption) (*Timeout, error) {
	var cfg timeoutConfig
	for _, o := range opts {
		if o != nil {
			o.applyTimeout(&cfg)
		}
	}
	if limit <= 0 {
		return nil, invalid("timeout: limit %s must be positive", limit)
	}
	tel, err := newInstruments(cfg.shared, "timeout")
	if err != nil {
		return nil, err
	}
	return &Timeout{limit: limit, tel: tel}, nil
}

// Limit returns the per-call time limit.
func (t *Timeout) Limit() time.Duration { return t.limit }

// Middleware returns the timeout as record middleware.
func (t *Timeout) Middleware() bulwark.Middleware { return t.wrap }

func (t *Timeout) wrap(next bulwark.Handler) bulwark.Handler {
	return handlerOf[*Timeout]{policy: t, next: next}
}

func (t *Timeout) handle(ctx context.Context, msg *bulwark.Message, next bulwark.Handler) error {
	callCtx, cancel := context.WithTimeout(ctx, t.limit)
	err := next.Handle(callCtx, msg)
	// Our deadline, not the caller's: the caller's context is still live.
	expired := err != nil && errors.Is(callCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	if !expired {
		return err
	}
	t.tel.timeouts.Add(ctx, 1, t.tel.addOpts...)
	return &TimeoutError{Limit: t.limit, Err: err}
}
