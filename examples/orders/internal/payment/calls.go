package payment

import (
	"context"
	"maps"
	"sync"

	"github.com/bulwarkgo/bulwark"
)

// CallLog counts, per order, the gateway calls that did not finish their
// record: a call the retry policy repeated, or one made by an attempt that
// then failed (the event could not be published, the dedup mark could not
// be confirmed) or never returned (the instance crashed). Only after such a
// call may the payment service legitimately ask the gateway about the same
// order again; a second call after a finished one means the same
// reservation was processed twice, which dedup is there to prevent.
//
// A call counts as unfinished from the moment it is made and stops counting
// when its attempt finishes the record, so a crashed instance that never
// returns leaves its calls counted.
type CallLog struct {
	mu         sync.Mutex
	unfinished map[string]int
}

// NewCallLog returns an empty log.
func NewCallLog() *CallLog { return &CallLog{unfinished: map[string]int{}} }

// Unfinished returns order ID -> gateway calls that did not finish their
// record.
func (l *CallLog) Unfinished() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.unfinished)
}

// attempt is one delivery of a record through the handler chain.
type attempt struct {
	mu    sync.Mutex
	order string
	calls int
}

type attemptKey struct{}

// calling notes a gateway call for orderID within the attempt in ctx.
func (l *CallLog) calling(ctx context.Context, orderID string) {
	if l == nil {
		return
	}
	if a, ok := ctx.Value(attemptKey{}).(*attempt); ok {
		a.mu.Lock()
		a.order = orderID
		a.calls++
		a.mu.Unlock()
	}
	l.mu.Lock()
	l.unfinished[orderID]++
	l.mu.Unlock()
}

// middleware marks the last call of an attempt that finished its record as
// finished. It must run outside dedup, so that a failed confirm counts as
// unfinished.
func (l *CallLog) middleware() bulwark.Middleware {
	if l == nil {
		return nil
	}
	return func(next bulwark.Handler) bulwark.Handler {
		return bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
			a := &attempt{}
			err := next.Handle(context.WithValue(ctx, attemptKey{}, a), m)
			a.mu.Lock()
			order, calls := a.order, a.calls
			a.mu.Unlock()
			if err == nil && calls > 0 {
				l.mu.Lock()
				l.unfinished[order]--
				if l.unfinished[order] == 0 {
					delete(l.unfinished, order)
				}
				l.mu.Unlock()
			}
			return err
		})
	}
}
