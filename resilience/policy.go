package resilience

import (
	"context"

	"github.com/bulwarkgo/bulwark"
)

// Policy is one of this package's policies: [*Breaker], [*Retry],
// [*Bulkhead], [*Timeout] or [*RateLimiter]. A policy holds its state (the
// breaker's window, the bulkhead's slots, the limiter's permits) and is safe
// for concurrent use, so one value can guard one dependency for every
// consumer, producer and function that calls it.
type Policy interface {
	// Middleware returns the policy as record middleware. Every handler it
	// wraps shares the policy's state.
	Middleware() bulwark.Middleware
	// wrap returns next guarded by the policy.
	wrap(next bulwark.Handler) bulwark.Handler
}

// Chain composes policies into one middleware; the first one given is the
// outermost, as with [bulwark.Chain]. The recommended order is
//
//	Chain(retry, rateLimiter, bulkhead, breaker, timeout)
//
// retry outermost so that its backoff holds no bulkhead slot and each
// attempt passes the limiter, bulkhead and breaker again; timeout innermost
// so that a slow call counts as a breaker failure.
func Chain(policies ...Policy) bulwark.Middleware {
	return func(h bulwark.Handler) bulwark.Handler { return wrapAll(h, policies) }
}

func wrapAll(h bulwark.Handler, policies []Policy) bulwark.Handler {
	for i := len(policies) - 1; i >= 0; i-- {
		if policies[i] != nil {
			h = policies[i].wrap(h)
		}
	}
	return h
}

// Do calls fn guarded by the policies, the first one given outermost: the
// same policies, and the same state, as the record middleware. Use it
// around a producer send or the HTTP call a handler makes. The error is
// fn's, or one of the policies' (pause class for a rejection, see
// [ErrBreakerOpen], [ErrBulkheadFull], [ErrRateLimited]; [*TimeoutError]).
func Do(ctx context.Context, fn func(ctx context.Context) error, policies ...Policy) error {
	h := wrapAll(bulwark.HandlerFunc(func(ctx context.Context, _ *bulwark.Message) error {
		return fn(ctx)
	}), policies)
	// The policies never look at the message; Do has none to give them.
	return h.Handle(ctx, nil)
}

// Get is [Do] for a function with a result. On error it returns the zero T.
func Get[T any](ctx context.Context, fn func(ctx context.Context) (T, error), policies ...Policy) (T, error) {
	var out T
	err := Do(ctx, func(ctx context.Context) error {
		v, err := fn(ctx)
		if err == nil {
			out = v
		}
		return err
	}, policies...)
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// handlerOf binds a policy's handle method to the next handler, so that a
// wrapped call allocates nothing for the binding.
type handlerOf[P interface {
	handle(ctx context.Context, msg *bulwark.Message, next bulwark.Handler) error
}] struct {
	policy P
	next   bulwark.Handler
}

func (h handlerOf[P]) Handle(ctx context.Context, msg *bulwark.Message) error {
	return h.policy.handle(ctx, msg, h.next)
}
