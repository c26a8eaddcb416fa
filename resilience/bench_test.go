package resilience_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/resilience"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/bulkhead"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
)

var noop = bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { return nil })

func benchHandler(b *testing.B, h bulwark.Handler) {
	ctx := context.Background()
	msg := &bulwark.Message{Topic: "t", Value: []byte("v")}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Handle(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOverhead measures what the policies add to a no-op handler call
// on the success path: go test -run '^$' -bench . -benchmem -count 6 ./resilience
func BenchmarkOverhead(b *testing.B) {
	retry := must(resilience.NewRetry())
	breaker := must(resilience.NewBreaker())
	b.Cleanup(func() { _ = breaker.Close() })
	bh := must(resilience.NewBulkhead(64))
	to := must(resilience.NewTimeout(time.Second))
	rl := must(resilience.NewRateLimiter(1_000_000_000, time.Second, resilience.WithBursts()))

	b.Run("bare", func(b *testing.B) { benchHandler(b, noop) })
	b.Run("retry", func(b *testing.B) { benchHandler(b, retry.Middleware()(noop)) })
	b.Run("breaker", func(b *testing.B) { benchHandler(b, breaker.Middleware()(noop)) })
	b.Run("bulkhead", func(b *testing.B) { benchHandler(b, bh.Middleware()(noop)) })
	b.Run("timeout", func(b *testing.B) { benchHandler(b, to.Middleware()(noop)) })
	b.Run("ratelimiter", func(b *testing.B) { benchHandler(b, rl.Middleware()(noop)) })
	// The floor of any per-call timeout through the context: the chain
	// below costs this plus the other policies.
	b.Run("context-with-timeout", func(b *testing.B) {
		benchHandler(b, bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			return noop(ctx, msg)
		}))
	})
	b.Run("chain", func(b *testing.B) {
		benchHandler(b, resilience.Chain(retry, breaker, bh, to)(noop))
	})
	b.Run("chain-parallel", func(b *testing.B) {
		h := resilience.Chain(retry, breaker, bh, to)(noop)
		msg := &bulwark.Message{Topic: "t"}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := h.Handle(context.Background(), msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	// For comparison: the same four failsafe-go policies through one
	// failsafe-go executor per call, the straightforward way to use it.
	b.Run("failsafe-executor", func(b *testing.B) {
		ex := failsafe.With[any](
			retrypolicy.NewBuilder[any]().WithMaxAttempts(3).
				WithBackoff(100*time.Millisecond, 5*time.Second).ReturnLastFailure().Build(),
			circuitbreaker.NewBuilder[any]().WithFailureThreshold(5).Build(),
			bulkhead.NewBuilder[any](64).WithMaxWaitTime(time.Second).Build(),
			timeout.New[any](time.Second))
		h := bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
			return ex.WithContext(ctx).Run(func() error { return noop(ctx, msg) })
		})
		benchHandler(b, h)
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
