package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/cputime"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/outbox"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/require"
)

// BenchmarkRelay measures how fast one relay empties an outbox of b.N
// rows (100-byte values) into a 6-partition topic, against PostgreSQL and
// the in-process cluster, with many keys (the batch goes out in one wave)
// and with few (a wave per row of a key). Placing the rows is not timed.
// The producer-only baseline sends the same records with SendAsync.
func BenchmarkRelay(b *testing.B) {
	for _, keys := range []int{10000, 10} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			db := servicetest.Postgres(b)
			ob := newTable(b, db)
			c := kafkatest.NewCluster(b, kafkatest.WithTopic("bench", 6))
			p := newProducer(b, c)
			value := make([]byte, 100)
			placeRows(b, db, ob, b.N, keys, value)
			r, err := outbox.NewRelay(db, p, c.Brokers(), outbox.WithTable(ob.Table()), outbox.WithConnection(c.ConnOptions()...),
				outbox.WithPollInterval(5*time.Millisecond), outbox.WithLogger(slog.New(slog.DiscardHandler)))
			require.NoError(b, err)
			cpu0 := cputime.Process()
			b.ResetTimer()
			stop := runRelay(b, r)
			for r.Stats().Published < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			cpu := cputime.Process() - cpu0
			stop()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/row")
		})
	}
	b.Run("producer-only", func(b *testing.B) {
		c := kafkatest.NewCluster(b, kafkatest.WithTopic("bench", 6))
		p := newProducer(b, c)
		value := make([]byte, 100)
		cpu0 := cputime.Process()
		b.ResetTimer()
		for i := range b.N {
			m := &bulwark.Message{Topic: "bench", Key: fmt.Appendf(nil, "k%d", i%10000), Value: value}
			p.SendAsync(context.Background(), m, func(_ producer.Result, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
		require.NoError(b, p.Flush(context.Background()))
		b.StopTimer()
		cpu := cputime.Process() - cpu0
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/row")
	})
}

// placeRows commits n rows in transactions of 1,000 rows.
func placeRows(b *testing.B, db *sql.DB, ob *outbox.Outbox, n, keys int, value []byte) {
	for start := 0; start < n; start += 1000 {
		tx, err := db.Begin()
		require.NoError(b, err)
		for i := start; i < min(n, start+1000); i++ {
			m := &bulwark.Message{Topic: "bench", Key: fmt.Appendf(nil, "k%d", i%keys), Value: value}
			require.NoError(b, ob.Place(context.Background(), tx, m))
		}
		require.NoError(b, tx.Commit())
	}
}
