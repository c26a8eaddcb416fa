package bulwark

import "context"

// Handler processes one record. Returning nil marks the record finished (it
// may be committed); an error is classified with [ClassOf] to decide between
// retry, dead letter and pause.
//
// A Handler must honour ctx: it is cancelled when the partition is revoked
// past its grace period or the consumer stops.
type Handler interface {
	Handle(ctx context.Context, msg *Message) error
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ctx context.Context, msg *Message) error

// Handle calls f(ctx, msg).
func (f HandlerFunc) Handle(ctx context.Context, msg *Message) error { return f(ctx, msg) }

// Middleware wraps a Handler with behaviour before and after it runs.
type Middleware func(Handler) Handler

// Chain composes middleware so that the first one given is the outermost:
// Chain(a, b)(h) handles a record as a(b(h)).
func Chain(mws ...Middleware) Middleware {
	return func(h Handler) Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			if mws[i] != nil {
				h = mws[i](h)
			}
		}
		return h
	}
}
