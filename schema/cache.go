package schema

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// flightCache is a concurrent cache whose misses for the same key make one
// fill call; the others wait for it. Errors are not cached.
type flightCache[K comparable, V any] struct {
	// ready holds the filled values in a map that is never changed once
	// published (copy on write), so the hot path is one atomic load and a
	// map lookup, without locks: serdes look up on every record.
	ready atomic.Pointer[map[K]V]

	mu      sync.Mutex
	entries map[K]*flightEntry[V] // fills under way
}

type flightEntry[V any] struct {
	done chan struct{}
	val  V
	err  error
}

func newFlightCache[K comparable, V any]() *flightCache[K, V] {
	c := &flightCache[K, V]{entries: map[K]*flightEntry[V]{}}
	c.ready.Store(&map[K]V{})
	return c
}

// peek returns a filled value without waiting.
func (c *flightCache[K, V]) peek(key K) (V, bool) {
	v, ok := (*c.ready.Load())[key]
	return v, ok
}

// publish adds a value to the ready map. Callers hold c.mu.
func (c *flightCache[K, V]) publish(key K, v V) {
	old := *c.ready.Load()
	next := make(map[K]V, len(old)+1)
	for k, x := range old {
		next[k] = x
	}
	next[key] = v
	c.ready.Store(&next)
}

// get returns the cached value for key, calling fill on a miss. Callers
// that find a fill under way wait for it (or for their own ctx). When the
// fill fails because its caller's context ended, a waiter whose context is
// still live tries again rather than inherit someone else's cancellation.
func (c *flightCache[K, V]) get(ctx context.Context, key K, fill func(context.Context) (V, error)) (V, error) {
	if v, ok := c.peek(key); ok {
		return v, nil
	}
	for {
		c.mu.Lock()
		if v, ok := c.peek(key); ok {
			c.mu.Unlock()
			return v, nil
		}
		e, ok := c.entries[key]
		if !ok {
			e = &flightEntry[V]{done: make(chan struct{})}
			c.entries[key] = e
			c.mu.Unlock()
			c.fill(ctx, key, e, fill)
			return e.val, e.err
		}
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
		if e.err == nil {
			return e.val, nil
		}
		if ctx.Err() == nil && (errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded)) {
			continue
		}
		return e.val, e.err
	}
}

// fill runs f for e. Whatever happens, even a panic, the entry is
// completed so that waiters do not hang, and dropped unless it succeeded.
func (c *flightCache[K, V]) fill(ctx context.Context, key K, e *flightEntry[V], f func(context.Context) (V, error)) {
	ok := false
	defer func() {
		if !ok && e.err == nil {
			e.err = errors.New("schema: cache fill panicked")
		}
		c.mu.Lock()
		delete(c.entries, key)
		if e.err == nil {
			c.publish(key, e.val)
		}
		c.mu.Unlock()
		close(e.done)
	}()
	e.val, e.err = f(ctx)
	ok = true
}

// put stores a value, replacing any.
func (c *flightCache[K, V]) put(key K, v V) {
	c.mu.Lock()
	c.publish(key, v)
	c.mu.Unlock()
}

// deleteIf drops the values whose key matches.
func (c *flightCache[K, V]) deleteIf(match func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := map[K]V{}
	for k, v := range *c.ready.Load() {
		if !match(k) {
			next[k] = v
		}
	}
	c.ready.Store(&next)
}
