package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/internal/logging"
)

// DefaultTable is the table name unless [WithTable] says otherwise.
const DefaultTable = "bulwark_dedup"

// Store is a [dedup.Store] in a PostgreSQL table, through database/sql
// (any PostgreSQL driver; the tests use pgx's stdlib driver). One row per
// key holds the token of the claim that owns it, whether it is confirmed,
// and when it expires. Expiry instants come from the server's clock
// (clock_timestamp()), so consumers with skewed clocks agree.
//
// Claim is one INSERT ... ON CONFLICT DO UPDATE ... WHERE expired, which
// PostgreSQL serialises per key; Confirm is an upsert guarded by the token;
// Release a token-guarded DELETE. Expired rows behave as absent and are
// removed by [Store.Cleanup] (or periodically, see [WithCleanupInterval]).
//
// [Store.ConfirmTx] writes the confirmation inside the caller's
// transaction, so that a handler's own database writes and the dedup mark
// commit or roll back together: its side effect is exactly-once even when
// the consumer crashes between commit and Kafka offset commit.
//
// Errors that say PostgreSQL is unavailable (network errors, EOF,
// timeouts, a closed pool, SQLSTATE classes 08, 53, 58 and 28, 57P01
// admin shutdown and the other restart states) are pause-class
// [*dedup.UnavailableError]s matching [dedup.ErrUnavailable], so the dedup
// middleware pauses the partition until the server is back; a handler
// writing to the same database classifies its own errors alike with
// [ClassifyError].
type Store struct {
	db  *sql.DB
	q   queries
	log *slog.Logger

	stopCleanup context.CancelFunc
	cleanupDone chan struct{}
	closeOnce   sync.Once
}

type config struct {
	table           string
	create          bool
	cleanupInterval time.Duration
	logger          *slog.Logger
}

// Option configures [New].
type Option func(*config)

// WithTable sets the table name (default [DefaultTable]): lowercase
// letters, digits and underscores, optionally schema-qualified
// ("dedup.orders"). Consumers that must see each other's keys use the same
// table.
func WithTable(name string) Option { return func(c *config) { c.table = name } }

// WithoutCreateTable makes New check that the table exists instead of
// creating it, for deployments where the application's database user may
// not run DDL. Create it beforehand with the statements [Schema] returns.
func WithoutCreateTable() Option { return func(c *config) { c.create = false } }

// WithCleanupInterval runs [Store.Cleanup] every d in a background goroutine
// that [Store.Close] stops (default 0: no background cleanup; call Cleanup
// yourself, e.g. from a cron job, or expired rows accumulate, harmlessly
// but without bound).
func WithCleanupInterval(d time.Duration) Option { return func(c *config) { c.cleanupInterval = d } }

// WithLogger sets the logger for background cleanup failures (default:
// slog.Default(), WARN and above only; slog.New(slog.DiscardHandler)
// silences it).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

var tableName = regexp.MustCompile(`^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$`)

// Schema returns the DDL of the store's table and its expiry index.
func Schema(table string) (string, error) {
	if len(table) > 127 || !tableName.MatchString(table) {
		return "", fmt.Errorf("%w: table name %q: want lowercase letters, digits and underscores, optionally schema-qualified", dedup.ErrInvalidConfig, table)
	}
	index := table[strings.LastIndex(table, ".")+1:]
	if len(index) > 52 {
		index = index[:52]
	}
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (
	dedup_key  text PRIMARY KEY,
	token      text NOT NULL,
	confirmed  boolean NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS %[2]s_expires_at ON %[1]s (expires_at);`, table, index), nil
}

// DefaultConnectTimeout bounds the connectivity check of [New] when ctx
// ends later or never.
const DefaultConnectTimeout = 5 * time.Second

// New returns a store on db, creating the table if it does not exist
// (unless [WithoutCreateTable]). Close it to stop background cleanup; it
// does not close db.
//
// It first checks that PostgreSQL answers (db.PingContext), within ctx and
// at most [DefaultConnectTimeout], and returns a pause-class
// [*dedup.UnavailableError] (Op "connect", matching
// [dedup.ErrUnavailable]) when it does not: refused, unreachable, a
// server that accepts and never answers, a wrong password, a database
// that is starting or shutting down.
func New(ctx context.Context, db *sql.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil *sql.DB", dedup.ErrInvalidConfig)
	}
	cfg := config{table: DefaultTable, create: true}
	for _, o := range opts {
		o(&cfg)
	}
	ddl, err := Schema(cfg.table)
	if err != nil {
		return nil, err
	}
	if cfg.cleanupInterval < 0 {
		return nil, fmt.Errorf("%w: cleanup interval %v is negative", dedup.ErrInvalidConfig, cfg.cleanupInterval)
	}
	if err := ping(ctx, db); err != nil {
		return nil, err
	}
	if cfg.create {
		if err := createTable(ctx, db, cfg.table, ddl); err != nil {
			return nil, err
		}
	} else if _, err := db.ExecContext(ctx, "SELECT 1 FROM "+cfg.table+" LIMIT 0"); err != nil {
		return nil, opError("table "+cfg.table, err)
	}
	s := &Store{db: db, q: newQueries(cfg.table), log: cfg.logger}
	if s.log == nil {
		s.log = logging.Default()
	}
	if cfg.cleanupInterval > 0 {
		// A context of its own: the loop outlives New's ctx, until Close.
		loopCtx, cancel := context.WithCancel(context.Background())
		s.stopCleanup, s.cleanupDone = cancel, make(chan struct{})
		go s.cleanupLoop(loopCtx, cfg.cleanupInterval)
	}
	return s, nil
}

func ping(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultConnectTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return dedup.Unavailable("sqlstore", "connect", err)
	}
	return nil
}

// createTable runs the DDL under an advisory lock: concurrent CREATE TABLE
// IF NOT EXISTS of the same table can otherwise fail on a catalog unique
// constraint when several consumers start together.
func createTable(ctx context.Context, db *sql.DB, table, ddl string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return opError("create table "+table, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "bulwark.dedup."+table); err != nil {
		return opError("create table "+table, err)
	}
	for _, stmt := range strings.Split(ddl, ";\n") {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return opError("create table "+table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return opError("create table "+table, err)
	}
	return nil
}

type queries struct{ claim, confirm, release, cleanup string }

// Durations travel as whole microseconds, PostgreSQL's resolution.
func newQueries(t string) queries {
	return queries{
		// The data-modifying CTE runs whatever the outer query reads. When it
		// claims nothing, the outer query shows the live row that blocked it;
		// a row committed after this statement's snapshot may not be visible,
		// which the caller handles by asking again.
		claim: `WITH claimed AS (
	INSERT INTO ` + t + ` AS d (dedup_key, token, confirmed, expires_at)
	VALUES ($1, $2, false, clock_timestamp() + $3::bigint * interval '1 microsecond')
	ON CONFLICT (dedup_key) DO UPDATE
		SET token = EXCLUDED.token, confirmed = false, expires_at = EXCLUDED.expires_at
		WHERE d.expires_at <= clock_timestamp()
	RETURNING 1
)
SELECT (SELECT count(*) FROM claimed), cur.confirmed,
	(EXTRACT(EPOCH FROM cur.expires_at - clock_timestamp()) * 1000000)::bigint
FROM (SELECT 1) AS one
LEFT JOIN ` + t + ` AS cur ON cur.dedup_key = $1 AND cur.expires_at > clock_timestamp()`,
		confirm: `INSERT INTO ` + t + ` AS d (dedup_key, token, confirmed, expires_at)
VALUES ($1, $2, true, clock_timestamp() + $3::bigint * interval '1 microsecond')
ON CONFLICT (dedup_key) DO UPDATE
	SET token = EXCLUDED.token, confirmed = true, expires_at = EXCLUDED.expires_at
	WHERE d.token = EXCLUDED.token OR d.expires_at <= clock_timestamp()
RETURNING 1`,
		// Deletes only the caller's own unconfirmed lease; reports a live
		// row of another token as lost.
		release: `WITH released AS (
	DELETE FROM ` + t + ` WHERE dedup_key = $1 AND token = $2 AND NOT confirmed RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM released) OR NOT EXISTS (
	SELECT 1 FROM ` + t + ` WHERE dedup_key = $1 AND token <> $2 AND expires_at > clock_timestamp())`,
		// The outer expiry test is re-checked on rows changed concurrently,
		// so a key reclaimed after the subquery picked it survives.
		cleanup: `DELETE FROM ` + t + ` WHERE expires_at <= clock_timestamp() AND dedup_key IN (
	SELECT dedup_key FROM ` + t + ` WHERE expires_at <= clock_timestamp() LIMIT $1)`,
	}
}

func newToken() dedup.Token { return dedup.Token(rand.Text()) }

func micros(d time.Duration) int64 { return max(1, d.Microseconds()) }

// Claim implements [dedup.Store].
func (s *Store) Claim(ctx context.Context, key string, lease time.Duration) (dedup.Claim, error) {
	tok := newToken()
	for range 3 {
		var (
			acquired  int64
			confirmed sql.NullBool
			remaining sql.NullInt64
		)
		err := s.db.QueryRowContext(ctx, s.q.claim, key, string(tok), micros(lease)).Scan(&acquired, &confirmed, &remaining)
		switch {
		case err != nil:
			return dedup.Claim{}, opError("claim", err)
		case acquired == 1:
			return dedup.Claim{State: dedup.Acquired, Token: tok}, nil
		case confirmed.Valid && confirmed.Bool:
			return dedup.Claim{State: dedup.Duplicate}, nil
		case confirmed.Valid:
			return dedup.Claim{State: dedup.Busy, Remaining: time.Duration(max(0, remaining.Int64)) * time.Microsecond}, nil
		}
		// Blocked by a row this statement's snapshot cannot see: ask again.
	}
	return dedup.Claim{State: dedup.Busy}, nil
}

type execer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Confirm implements [dedup.Store].
func (s *Store) Confirm(ctx context.Context, key string, token dedup.Token, ttl time.Duration) error {
	return s.confirm(ctx, s.db, key, token, ttl)
}

// ConfirmTx confirms key inside tx: the mark becomes visible, and the lease
// turns into a confirmation, only if tx commits. Call it from a handler
// wrapped by [dedup.Deduplicator] with the claim from [dedup.LeaseFrom],
// after the handler's own writes and before committing:
//
//	lease, _ := dedup.LeaseFrom(ctx)
//	tx, _ := db.BeginTx(ctx, nil)
//	// ... the side effect: INSERT/UPDATE through tx ...
//	if err := store.ConfirmTx(ctx, tx, lease.Key, lease.Token, retention); err != nil {
//		tx.Rollback() // ErrLeaseLost: another consumer owns the record now
//		return err    // pause-class when PostgreSQL is unavailable
//	}
//	return sqlstore.ClassifyError(tx.Commit())
//
// Until tx ends, the row stays locked, so a concurrent claim of the same key
// waits for the outcome and then sees a duplicate (commit) or the lease
// (rollback). The middleware's own Confirm afterwards is a harmless renewal.
// Run tx at READ COMMITTED (PostgreSQL's default): at stricter levels the
// upsert can fail with a serialization error under contention.
func (s *Store) ConfirmTx(ctx context.Context, tx *sql.Tx, key string, token dedup.Token, ttl time.Duration) error {
	if tx == nil {
		return fmt.Errorf("%w: nil *sql.Tx", dedup.ErrInvalidConfig)
	}
	return s.confirm(ctx, tx, key, token, ttl)
}

func (s *Store) confirm(ctx context.Context, q execer, key string, token dedup.Token, ttl time.Duration) error {
	var one int
	err := q.QueryRowContext(ctx, s.q.confirm, key, string(token), micros(ttl)).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return dedup.ErrLeaseLost
	case err != nil:
		return opError("confirm", err)
	}
	return nil
}

// Release implements [dedup.Store].
func (s *Store) Release(ctx context.Context, key string, token dedup.Token) error {
	var ok bool
	if err := s.db.QueryRowContext(ctx, s.q.release, key, string(token)).Scan(&ok); err != nil {
		return opError("release", err)
	}
	if !ok {
		return dedup.ErrLeaseLost
	}
	return nil
}

// cleanupBatch bounds how many rows one DELETE removes, so cleanup never
// holds many row locks at once.
const cleanupBatch = 5000

// Cleanup deletes expired rows, in batches, and returns how many.
func (s *Store) Cleanup(ctx context.Context) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, s.q.cleanup, cleanupBatch)
		if err != nil {
			return total, opError("cleanup", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, opError("cleanup", err)
		}
		total += n
		if n < cleanupBatch {
			return total, nil
		}
	}
}

func (s *Store) cleanupLoop(ctx context.Context, every time.Duration) {
	defer close(s.cleanupDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		runCtx, cancel := context.WithTimeout(ctx, every)
		n, err := s.Cleanup(runCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.WarnContext(ctx, "sqlstore: cleanup failed", "error", err)
		} else if n > 0 {
			s.log.DebugContext(ctx, "sqlstore: expired dedup rows deleted", "rows", n)
		}
	}
}

// Close stops background cleanup and waits for it. It does not close the
// *sql.DB. It is idempotent and always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.stopCleanup != nil {
			s.stopCleanup()
			<-s.cleanupDone
		}
	})
	return nil
}
