package schema

import (
	"context"
	"errors"
	"testing"
)

func TestFlightCacheErrorsAndPanicsAreNotCached(t *testing.T) {
	c := newFlightCache[int, string]()
	ctx := context.Background()
	calls := 0
	_, err := c.get(ctx, 1, func(context.Context) (string, error) { calls++; return "", errors.New("boom") })
	if err == nil {
		t.Fatal("want the fill's error")
	}
	func() {
		defer func() { _ = recover() }()
		_, _ = c.get(ctx, 1, func(context.Context) (string, error) { calls++; panic("fill panicked") })
	}()
	v, err := c.get(ctx, 1, func(context.Context) (string, error) { calls++; return "ok", nil })
	if err != nil || v != "ok" || calls != 3 {
		t.Fatalf("got %q, %v after %d fills; want ok after 3", v, err, calls)
	}
	v, _ = c.get(ctx, 1, func(context.Context) (string, error) { calls++; return "again", nil })
	if v != "ok" || calls != 3 {
		t.Fatalf("a cached value was filled again: %q, %d fills", v, calls)
	}
}
