package redisstore_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/redisstore"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/redis/go-redis/v9"
)

// Compare with redis-benchmark in the same sitting at the same number of
// connections (-c) and pipelining depth (-P):
//
//	go test -run '^$' -bench . -count 6 ./dedup/redisstore/
//	redis-benchmark -t set -c 50 -P 1 -n 1000000 -q    (BenchmarkClaimConfirm/*)
//	redis-benchmark -t set -c 50 -P 16 -n 4000000 -q   (BenchmarkClaimConfirmPipelined/depth=16)
//
// One claim+confirm pair is two Redis round trips in BenchmarkClaimConfirm
// (SET NX PX, then EVALSHA of the confirm script): what the dedup
// middleware does per record. In the pipelined benchmark, on a single
// server, a batch of depth keys is one EVALSHA that claims them all and one
// that confirms them all (ClaimMany, ConfirmMany); redis-benchmark -P depth
// sends depth plain SETs per round trip, so it runs depth commands where
// the store runs one script doing depth operations. Keys are fresh each
// time and expire after the benchmark's short retention, so nothing is left
// behind for long.
//
// The most any client gets from the two commands of BenchmarkClaimConfirm
// is what redis-benchmark gets sending exactly those (a SET NX PX, then an
// EVALSHA of the confirm script), 1/(1/set_nx + 1/evalsha) pairs/s:
//
//	SHA=$(redis-cli SCRIPT LOAD "$(sed -n '/^var confirmScript/,/^return 1/p' dedup/redisstore/store.go | sed '1s/.*`//; $s/`)$//')")
//	redis-benchmark -c 50 -P 1 -n 500000 -q -r 100000000 SET bc:__rand_int__ Ltoken NX PX 5000
//	redis-benchmark -c 50 -P 1 -n 500000 -q -r 100000000 EVALSHA $SHA 1 bc:__rand_int__ token 5000
const benchClients = 50

// setClients makes RunParallel start benchClients goroutines whatever
// GOMAXPROCS (-cpu) is: SetParallelism multiplies by it.
func setClients(b *testing.B) {
	p := runtime.GOMAXPROCS(0)
	b.SetParallelism((benchClients + p - 1) / p)
}

func benchStore(b *testing.B, autoPipeline bool) (*redisstore.Store, string) {
	addr := servicetest.RedisAddr(b)
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: benchClients})
	b.Cleanup(func() { _ = c.Close() })
	prefix := servicetest.UniqueName(b, "bulwark:bench") + ":"
	var cl redis.Cmdable = c
	if autoPipeline {
		ap, err := c.AutoPipeline()
		if err != nil {
			b.Fatal(err)
		}
		cl = ap
	}
	st, err := redisstore.New(cl, redisstore.WithPrefix(prefix))
	if err != nil {
		b.Fatal(err)
	}
	return st, prefix
}

// BenchmarkClaimConfirm: 50 goroutines, one command in flight each
// (redis-benchmark -c 50 -P 1), through a plain client (a connection per
// goroutine) and through its autopipeliner (the commands of all waiting
// goroutines share a write and a read).
func BenchmarkClaimConfirm(b *testing.B) {
	b.Run("client=plain", func(b *testing.B) { benchClaimConfirm(b, false) })
	b.Run("client=autopipeline", func(b *testing.B) { benchClaimConfirm(b, true) })
}

func benchClaimConfirm(b *testing.B, autoPipeline bool) {
	st, _ := benchStore(b, autoPipeline)
	ctx := context.Background()
	var n atomic.Uint64
	setClients(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := strconv.FormatUint(n.Add(1), 36)
			c, err := st.Claim(ctx, key, 30*time.Second)
			if err != nil || c.State != dedup.Acquired {
				b.Fatalf("claim: %v %v", c.State, err)
			}
			if err := st.Confirm(ctx, key, c.Token, 5*time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkClaimConfirmPipelined: 50 goroutines, each claiming and then
// confirming batches of depth keys (redis-benchmark -c 50 -P depth).
func BenchmarkClaimConfirmPipelined(b *testing.B) {
	for _, depth := range []int{16} {
		b.Run("depth="+strconv.Itoa(depth), func(b *testing.B) {
			st, _ := benchStore(b, false)
			ctx := context.Background()
			var n atomic.Uint64
			setClients(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				keys := make([]string, depth)
				leases := make([]dedup.Lease, depth)
				for pb.Next() {
					for i := range keys {
						keys[i] = strconv.FormatUint(n.Add(1), 36)
					}
					claims, err := st.ClaimMany(ctx, keys, 30*time.Second)
					if err != nil {
						b.Fatal(err)
					}
					for i, c := range claims {
						if c.State != dedup.Acquired {
							b.Fatalf("claim %s: %v", keys[i], c.State)
						}
						leases[i] = dedup.Lease{Key: keys[i], Token: c.Token}
					}
					errs, err := st.ConfirmMany(ctx, leases, 5*time.Second)
					if err != nil {
						b.Fatal(err)
					}
					for _, err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			})
			b.ReportMetric(float64(b.N*depth)/b.Elapsed().Seconds(), "pairs/s")
		})
	}
}
