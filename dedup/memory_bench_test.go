package dedup_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/dedup"
)

var benchKeys = func() []string {
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = "msg-" + strconv.Itoa(i)
	}
	return keys
}()

// BenchmarkMemoryClaimConfirm measures claim+confirm pairs on fresh keys,
// in parallel, with the store full (every insert evicts): the steady state
// of a busy consumer.
func BenchmarkMemoryClaimConfirm(b *testing.B) {
	st, err := dedup.NewMemory(dedup.WithMaxEntries(100_000))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var worker atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine cycles through its own eighth of the ring (131,072
		// keys), so a key comes back only after more than 100,000 other
		// inserts: long evicted, always a fresh claim.
		base := (worker.Add(1) % 8) << 17
		var i uint64
		for pb.Next() {
			i++
			key := benchKeys[base+i&(1<<17-1)]
			c, err := st.Claim(ctx, key, 30*time.Second)
			if err != nil || c.State != dedup.Acquired {
				b.Fatalf("claim %s: %v %v", key, c.State, err)
			}
			if err := st.Confirm(ctx, key, c.Token, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}
