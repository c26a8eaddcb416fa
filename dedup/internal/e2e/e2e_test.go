package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/sqlstore"
	"github.com/bulwarkgo/bulwark/internal/leakcheck"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options(
		// kfake's run loop ends asynchronously after Close.
		goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*Cluster).run"),
	)...)
}

// counter returns the sum of an int64 counter's points.
func counter(t *testing.T, reader *sdkmetric.ManualReader, name string) int64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// crashable is a dedup store that dies with its (simulated) process.
type crashable struct {
	dedup.Store
	dead *atomic.Bool
}

var errProcessDead = errors.New("process crashed")

func (c crashable) Claim(ctx context.Context, k string, l time.Duration) (dedup.Claim, error) {
	if c.dead.Load() {
		return dedup.Claim{}, errProcessDead
	}
	return c.Store.Claim(ctx, k, l)
}

func (c crashable) Confirm(ctx context.Context, k string, tok dedup.Token, ttl time.Duration) error {
	if c.dead.Load() {
		return errProcessDead
	}
	return c.Store.Confirm(ctx, k, tok, ttl)
}

func (c crashable) Release(ctx context.Context, k string, tok dedup.Token) error {
	if c.dead.Load() {
		return errProcessDead
	}
	return c.Store.Release(ctx, k, tok)
}

// End to end: a producer sends every record twice; a group of consumers,
// two of which crash mid-handler (one before its database transaction
// commits, one after), processes them through the dedup middleware with the
// PostgreSQL store, writing the side effect and the dedup mark in one
// transaction. Every record's side effect must be in PostgreSQL exactly
// once, and every record must be committed.
func TestEndToEndExactlyOnceSideEffects(t *testing.T) {
	db := servicetest.Postgres(t)
	ctx := context.Background()
	const (
		topic   = "orders"
		group   = "billing"
		records = 120
	)
	cl := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 4))

	dedupTable := servicetest.UniqueName(t, "bulwark_dedup")
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + dedupTable) })
	st, err := sqlstore.New(ctx, db, sqlstore.WithTable(dedupTable))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	effects := servicetest.UniqueName(t, "effects")
	_, err = db.Exec("CREATE TABLE " + effects + " (order_id text NOT NULL, consumer text NOT NULL)")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + effects) })

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(ctx) })

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("BULWARK_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	crashed := make(chan string, 4)
	type member struct {
		name string
		stop func() error
	}
	var (
		mu      sync.Mutex
		members []member
	)
	// Crash points: the first consumer to handle these records dies in the
	// middle of the handler, before or after its transaction commits.
	var crashPoints sync.Map
	crashPoints.Store("order-010", "before-commit")
	crashPoints.Store("order-060", "after-commit")

	// start runs a consumer process.
	start := func(name string) {
		dialer := kafkatest.NewDialer()
		dead := &atomic.Bool{}
		d, err := dedup.New(crashable{st, dead},
			dedup.WithLease(2*time.Second), dedup.WithRetention(time.Hour),
			dedup.WithMeterProvider(mp), dedup.WithLogger(logger.With("consumer", name)))
		require.NoError(t, err)
		handler := bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
			lease, ok := dedup.LeaseFrom(ctx)
			if !ok {
				return bulwark.Permanentf("handler ran without a dedup lease")
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }()
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+effects+" VALUES ($1, $2)", string(m.Key), name); err != nil {
				return err
			}
			if err := st.ConfirmTx(ctx, tx, lease.Key, lease.Token, time.Hour); err != nil {
				return err
			}
			if mode, crash := crashPoints.LoadAndDelete(string(m.Key)); crash {
				if mode == "after-commit" {
					_ = tx.Commit() // the side effect happened; Kafka never hears of it
				}
				// The process dies: no more store calls, no broker traffic.
				dead.Store(true)
				dialer.Kill()
				t.Logf("consumer %s crashed handling %s (%s)", name, m.Key, mode)
				crashed <- name
				<-ctx.Done()
				return ctx.Err()
			}
			return tx.Commit()
		})
		c, err := consumer.New(cl.Brokers(), group, []string{topic}, handler,
			consumer.WithConnection(append(cl.ConnOptions(), conn.WithDialer(dialer))...),
			consumer.WithMiddleware(d.Middleware()),
			consumer.WithSessionTimeout(6*time.Second),
			consumer.WithHeartbeatInterval(500*time.Millisecond),
			consumer.WithCommitInterval(100*time.Millisecond),
			consumer.WithGracePeriod(time.Second),
			consumer.WithRetry(100, 20*time.Millisecond, 500*time.Millisecond),
			consumer.WithLogger(logger.With("consumer", name)),
		)
		require.NoError(t, err)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(runCtx) }()
		stop := func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(30 * time.Second):
				return fmt.Errorf("consumer %s: Run did not return within 30s of cancel", name)
			}
		}
		mu.Lock()
		members = append(members, member{name, stop})
		mu.Unlock()
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range members {
			if err := m.stop(); err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("consumer %s stopped with: %v", m.name, err)
			}
		}
	})

	for _, name := range []string{"a", "b", "c"} {
		start(name)
	}

	p, err := producer.New(cl.Brokers(), producer.WithConnection(cl.ConnOptions()...))
	require.NoError(t, err)
	defer p.Close()
	for i := range records {
		m := &bulwark.Message{Topic: topic, Key: fmt.Appendf(nil, "order-%03d", i), Value: []byte("charge")}
		m.SetHeader(bulwark.HeaderMessageID, fmt.Appendf(nil, "msg-%03d", i))
		for range 2 { // every record twice, same message ID
			_, err := p.Send(ctx, m.Clone())
			require.NoError(t, err)
		}
	}

	// Each crashed process is replaced by a new one, as a supervisor would.
	for range 2 {
		select {
		case name := <-crashed:
			start(name + "-restarted")
		case <-time.After(60 * time.Second):
			t.Fatal("a consumer did not reach its crash point")
		}
	}

	deadline := time.Now().Add(75 * time.Second)
	for {
		offs, err := cl.CommittedOffsets(ctx, group, topic)
		var committed int64
		if err == nil {
			for _, o := range offs {
				committed += o
			}
		}
		if committed == 2*records {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d records committed", committed, 2*records)
		}
		time.Sleep(100 * time.Millisecond)
	}

	rows, err := db.Query("SELECT order_id, count(*) FROM " + effects + " GROUP BY order_id HAVING count(*) <> 1")
	require.NoError(t, err)
	for rows.Next() {
		var id string
		var n int
		require.NoError(t, rows.Scan(&id, &n))
		t.Errorf("side effect of %s happened %d times", id, n)
	}
	require.NoError(t, rows.Err())
	var total, distinct int
	require.NoError(t, db.QueryRow("SELECT count(*), count(DISTINCT order_id) FROM "+effects).Scan(&total, &distinct))
	assert.Equal(t, records, distinct, "every record's side effect happened")
	assert.Equal(t, records, total, "and only once")
	assert.GreaterOrEqual(t, counter(t, reader, dedup.MetricDuplicates), int64(records), "every second copy was skipped")

	dlt, err := cl.ReadTopic(ctx, consumer.DefaultDeadLetterTopic(topic))
	if err == nil {
		assert.Empty(t, dlt, "nothing was dead-lettered")
	}
	var crashedBy []string
	for _, key := range []string{"order-010", "order-060"} {
		var who string
		require.NoError(t, db.QueryRow("SELECT consumer FROM "+effects+" WHERE order_id = $1", key).Scan(&who))
		crashedBy = append(crashedBy, key+" by "+who)
	}
	t.Logf("crash-point side effects: %v; duplicates skipped: %d", crashedBy, counter(t, reader, dedup.MetricDuplicates))
}
