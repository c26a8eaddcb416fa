package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/deduptest"
	"github.com/bulwarkgo/bulwark/dedup/sqlstore"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newStore returns a store on a fresh table of its own, dropped at the end.
func newStore(t *testing.T, db *sql.DB, opts ...sqlstore.Option) (*sqlstore.Store, string) {
	table := servicetest.UniqueName(t, "bulwark_dedup")
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + table) })
	st, err := sqlstore.New(context.Background(), db, append([]sqlstore.Option{sqlstore.WithTable(table)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st, table
}

func TestConformance(t *testing.T) {
	dsn := servicetest.PostgresDSN(t)
	deduptest.Run(t, func(t *testing.T, ns string) dedup.Store {
		db, err := sql.Open("pgx", dsn) // a pool per instance, like a separate process
		require.NoError(t, err)
		db.SetMaxOpenConns(8) // parallel subtests must stay well under max_connections
		t.Cleanup(func() { _ = db.Close() })
		table := "bulwark_" + ns
		t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + table) })
		st, err := sqlstore.New(context.Background(), db, sqlstore.WithTable(table))
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st
	}, deduptest.Durable(), deduptest.WithOutage(func(t *testing.T, _ string) (dedup.Store, func(), func()) {
		st, proxy := proxiedStore(t)
		return st, proxy.Cut, proxy.Restore
	}))
}

func TestBadTableName(t *testing.T) {
	for _, name := range []string{"", "Robert'); DROP TABLE x;--", "has space", "UPPER", "a.b.c", strings.Repeat("x", 200)} {
		_, err := sqlstore.New(context.Background(), &sql.DB{}, sqlstore.WithTable(name))
		assert.ErrorIs(t, err, dedup.ErrInvalidConfig, name)
	}
	_, err := sqlstore.New(context.Background(), nil)
	assert.ErrorIs(t, err, dedup.ErrInvalidConfig)
}

func TestWithoutCreateTableNeedsTable(t *testing.T) {
	db := servicetest.Postgres(t)
	table := servicetest.UniqueName(t, "bulwark_dedup")
	_, err := sqlstore.New(context.Background(), db, sqlstore.WithTable(table), sqlstore.WithoutCreateTable())
	require.Error(t, err, "missing table must be reported")

	ddl, err := sqlstore.Schema(table)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + table) })
	for _, stmt := range strings.Split(ddl, ";\n") {
		_, err := db.Exec(stmt)
		require.NoError(t, err)
	}
	st, err := sqlstore.New(context.Background(), db, sqlstore.WithTable(table), sqlstore.WithoutCreateTable())
	require.NoError(t, err)
	c, err := st.Claim(context.Background(), "k", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, dedup.Acquired, c.State)
}

func TestCleanupDeletesOnlyExpiredRows(t *testing.T) {
	db := servicetest.Postgres(t)
	st, table := newStore(t, db)
	ctx := context.Background()
	for i := range 10 {
		c, err := st.Claim(ctx, fmt.Sprintf("short-%d", i), 50*time.Millisecond)
		require.NoError(t, err)
		if i%2 == 0 {
			require.NoError(t, st.Confirm(ctx, fmt.Sprintf("short-%d", i), c.Token, 50*time.Millisecond))
		}
	}
	live, err := st.Claim(ctx, "live-lease", time.Minute)
	require.NoError(t, err)
	c, err := st.Claim(ctx, "live-done", time.Minute)
	require.NoError(t, err)
	require.NoError(t, st.Confirm(ctx, "live-done", c.Token, time.Hour))
	time.Sleep(150 * time.Millisecond)

	n, err := st.Cleanup(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 10, n)
	var left int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM "+table).Scan(&left))
	assert.Equal(t, 2, left)
	require.NoError(t, st.Confirm(ctx, "live-lease", live.Token, time.Hour), "live lease survived cleanup")
	again, err := st.Claim(ctx, "live-done", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, dedup.Duplicate, again.State)
}

func TestBackgroundCleanup(t *testing.T) {
	db := servicetest.Postgres(t)
	st, table := newStore(t, db, sqlstore.WithCleanupInterval(50*time.Millisecond))
	_, err := st.Claim(context.Background(), "k", time.Millisecond)
	require.NoError(t, err)
	assert.Eventually(t, func() bool {
		var n int
		return db.QueryRow("SELECT count(*) FROM "+table).Scan(&n) == nil && n == 0
	}, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, st.Close())
	require.NoError(t, st.Close(), "Close is idempotent")
}

// The business write and the dedup mark commit or roll back together.
func TestConfirmTxCommitsWithTheSideEffect(t *testing.T) {
	db := servicetest.Postgres(t)
	st, _ := newStore(t, db)
	effects := servicetest.UniqueName(t, "effects")
	_, err := db.Exec("CREATE TABLE " + effects + " (id text NOT NULL)")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE " + effects) })

	d, err := dedup.New(st, dedup.WithLease(10*time.Second))
	require.NoError(t, err)
	var failCommit atomic.Bool
	failCommit.Store(true)
	var runs atomic.Int32
	h := d.Wrap(bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
		runs.Add(1)
		lease, ok := dedup.LeaseFrom(ctx)
		require.True(t, ok)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+effects+" VALUES ($1)", m.MessageID()); err != nil {
			return err
		}
		if err := st.ConfirmTx(ctx, tx, lease.Key, lease.Token, time.Hour); err != nil {
			return err
		}
		if failCommit.Swap(false) {
			return fmt.Errorf("simulated failure before commit") // rolls back write and mark
		}
		return tx.Commit()
	}))
	m := &bulwark.Message{Topic: "orders"}
	m.SetHeader(bulwark.HeaderMessageID, []byte("order-1"))
	ctx := context.Background()

	require.Error(t, h.Handle(ctx, m))
	count := func() (n int) {
		require.NoError(t, db.QueryRow("SELECT count(*) FROM "+effects).Scan(&n))
		return n
	}
	assert.Equal(t, 0, count(), "rolled back")
	require.NoError(t, h.Handle(ctx, m), "redelivery after a failure runs again")
	require.NoError(t, h.Handle(ctx, m), "duplicate is skipped")
	assert.Equal(t, 1, count())
	assert.EqualValues(t, 2, runs.Load())
}

func TestConfirmTxAfterLostLease(t *testing.T) {
	db := servicetest.Postgres(t)
	st, _ := newStore(t, db)
	ctx := context.Background()
	old, err := st.Claim(ctx, "k", 20*time.Millisecond)
	require.NoError(t, err)
	time.Sleep(60 * time.Millisecond)
	newer, err := st.Claim(ctx, "k", time.Minute)
	require.NoError(t, err)
	require.Equal(t, dedup.Acquired, newer.State)

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	assert.ErrorIs(t, st.ConfirmTx(ctx, tx, "k", old.Token, time.Hour), dedup.ErrLeaseLost)
	require.NoError(t, tx.Rollback())
	assert.ErrorIs(t, st.ConfirmTx(ctx, nil, "k", old.Token, time.Hour), dedup.ErrInvalidConfig)
}

// While a ConfirmTx transaction is open, a concurrent claim of the key (its
// lease having expired) waits for it and then sees the duplicate.
func TestClaimWaitsForOpenConfirmTx(t *testing.T) {
	db := servicetest.Postgres(t)
	st, _ := newStore(t, db)
	ctx := context.Background()
	c, err := st.Claim(ctx, "k", 50*time.Millisecond)
	require.NoError(t, err)
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, st.ConfirmTx(ctx, tx, "k", c.Token, time.Hour))
	time.Sleep(100 * time.Millisecond) // the original lease would have expired by now

	got := make(chan dedup.Claim, 1)
	go func() {
		other, err := st.Claim(ctx, "k", time.Minute)
		assert.NoError(t, err)
		got <- other
	}()
	select {
	case other := <-got:
		t.Fatalf("claim did not wait for the open transaction: %v", other.State)
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, tx.Commit())
	assert.Equal(t, dedup.Duplicate, (<-got).State)
}

func TestNewOnUnreachablePostgres(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:1/test?sslmode=disable")
		require.NoError(t, err)
		defer db.Close()
		start := time.Now()
		_, err = sqlstore.New(context.Background(), db)
		assertConnectUnavailable(t, err)
		assert.Contains(t, err.Error(), "refused")
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	silent := func(t *testing.T) *sql.DB {
		db, err := sql.Open("pgx", "postgres://postgres@"+kafkatest.NeverAnswering(t)+"/test?sslmode=disable")
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	t.Run("never answers, context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := sqlstore.New(ctx, silent(t))
		assertConnectUnavailable(t, err)
		assert.Less(t, time.Since(start), 3*time.Second, "returned when its context ended")
	})
	t.Run("never answers, no deadline", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		_, err := sqlstore.New(context.Background(), silent(t))
		took := time.Since(start)
		assertConnectUnavailable(t, err)
		assert.GreaterOrEqual(t, took, sqlstore.DefaultConnectTimeout-100*time.Millisecond)
		assert.Less(t, took, sqlstore.DefaultConnectTimeout+5*time.Second, "bounded without a context deadline")
	})
}

func assertConnectUnavailable(t *testing.T, err error) {
	t.Helper()
	var ue *dedup.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, "sqlstore", ue.Store)
	assert.Equal(t, "connect", ue.Op)
	assert.ErrorIs(t, err, dedup.ErrUnavailable)
}

// PostgreSQL becomes unreachable between records: the next record pauses
// and its handler does not run; once the server is back it is processed.
func TestPostgresGoneBeforeClaimPauses(t *testing.T) {
	st, proxy := proxiedStore(t)
	d, err := dedup.New(st, dedup.WithStoreTimeout(2*time.Second))
	require.NoError(t, err)
	ran := 0
	h := d.Wrap(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { ran++; return nil }))
	require.NoError(t, h.Handle(context.Background(), msg("m1")), "works while the server is there")
	proxy.Cut()
	err = h.Handle(context.Background(), msg("m2"))
	require.Error(t, err)
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	assert.ErrorIs(t, err, dedup.ErrUnavailable)
	assert.Equal(t, 1, ran, "handler ran without a claim")
	proxy.Restore()
	require.NoError(t, h.Handle(context.Background(), msg("m2")))
	assert.Equal(t, 2, ran)
}

// PostgreSQL goes away while the handler runs: the confirm fails and the
// middleware pauses, not a silent success; once the server is back the
// redelivery records the confirm without running the handler again.
func TestPostgresGoneMidRunPauses(t *testing.T) {
	st, proxy := proxiedStore(t)
	d, err := dedup.New(st, dedup.WithStoreTimeout(2*time.Second), dedup.WithLease(time.Minute))
	require.NoError(t, err)
	ran := 0
	h := d.Wrap(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { ran++; proxy.Cut(); return nil }))
	err = h.Handle(context.Background(), msg("m1"))
	require.Error(t, err)
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	assert.Contains(t, err.Error(), "confirm")
	proxy.Restore()
	require.NoError(t, h.Handle(context.Background(), msg("m1")), "no minute-long wait for the lease")
	assert.Equal(t, 1, ran)
}

// The server terminates the store's sessions, as a restart does
// (SQLSTATE 57P01, admin_shutdown), and is gone for a while: pause-class,
// then the store works again on new connections.
func TestPostgresRestartPauses(t *testing.T) {
	db, proxy, app := servicetest.PostgresViaProxy(t)
	admin := servicetest.Postgres(t)
	st, _ := newStore(t, db)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil) // a session busy in a transaction when the server goes
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	c, err := st.Claim(ctx, "m1", time.Minute)
	require.NoError(t, err)
	var n int
	require.NoError(t, admin.QueryRow("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n))
	require.Positive(t, n)
	for deadline := time.Now().Add(10 * time.Second); n > 0; time.Sleep(20 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "sessions not terminated")
		require.NoError(t, admin.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n))
	}
	err = st.ConfirmTx(ctx, tx, "m1", c.Token, time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "57P01", "the session learnt of the shutdown")
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	proxy.Cut() // the server is down for a while
	_, err = st.Claim(ctx, "m2", time.Minute)
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err), "reconnecting while it is gone: %v", err)
	proxy.Restore()
	require.NoError(t, st.Confirm(ctx, "m1", c.Token, time.Minute))
}

func msg(id string) *bulwark.Message {
	m := &bulwark.Message{Topic: "t"}
	m.SetHeader(bulwark.HeaderMessageID, []byte(id))
	return m
}

// proxiedStore is a store whose connections go through a proxy the test can
// cut, as if the server went away.
func proxiedStore(t *testing.T) (*sqlstore.Store, *servicetest.Proxy) {
	db, p, _ := servicetest.PostgresViaProxy(t)
	st, _ := newStore(t, db)
	return st, p
}
