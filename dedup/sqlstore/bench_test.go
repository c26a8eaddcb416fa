package sqlstore_test

import (
	"context"
	"database/sql"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/sqlstore"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
)

// BenchmarkClaimConfirm: claim+confirm pairs on fresh keys from 16
// goroutines over a pool of 16 connections; each call is one statement in
// its own (autocommit) transaction.
//
//	go test -run '^$' -bench . -count 6 ./dedup/sqlstore/
func BenchmarkClaimConfirm(b *testing.B) {
	const conns = 16
	db, err := sql.Open("pgx", servicetest.PostgresDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	table := servicetest.UniqueName(b, "bulwark_bench")
	b.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + table) })
	st, err := sqlstore.New(context.Background(), db, sqlstore.WithTable(table))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var n atomic.Uint64
	// conns goroutines whatever GOMAXPROCS is: SetParallelism multiplies by it.
	b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := strconv.FormatUint(n.Add(1), 36)
			c, err := st.Claim(ctx, key, 30*time.Second)
			if err != nil || c.State != dedup.Acquired {
				b.Fatalf("claim: %v %v", c.State, err)
			}
			if err := st.Confirm(ctx, key, c.Token, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}
