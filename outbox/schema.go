package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Schema returns the DDL of the outbox table named table and of the
// relay's positions table (table + "_positions"); see the package
// documentation for what each column holds. [Outbox.Migrate] runs it; a
// deployment whose application user may not run DDL runs it beforehand.
func Schema(table string) (string, error) {
	if _, err := newConfig([]Option{WithTable(table)}); err != nil {
		return "", err
	}
	index := table[strings.LastIndex(table, ".")+1:]
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (
	id         bigserial PRIMARY KEY,
	topic      text NOT NULL,
	message_id text NOT NULL,
	key        bytea,
	value      bytea,
	headers    bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	attempted  boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS %[2]s_attempted ON %[1]s (id) WHERE attempted;
CREATE TABLE IF NOT EXISTS %[1]s_positions (
	topic       text NOT NULL,
	partition   integer NOT NULL,
	next_offset bigint NOT NULL,
	PRIMARY KEY (topic, partition)
);`, table, index), nil
}

// Migrate creates the outbox's tables if they do not exist (the statements
// of [Schema]). It runs them under a transaction-scoped advisory lock, as
// concurrent CREATE TABLE IF NOT EXISTS of one table can fail on a catalog
// constraint when several services start together.
func (o *Outbox) Migrate(ctx context.Context, db *sql.DB) error {
	if db == nil {
		return fmt.Errorf("%w: nil *sql.DB", ErrInvalidConfig)
	}
	ddl, err := Schema(o.table)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("outbox: migrate %s: %w", o.table, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "bulwark.outbox.migrate."+o.table); err != nil {
		return fmt.Errorf("outbox: migrate %s: %w", o.table, err)
	}
	for _, stmt := range strings.Split(ddl, ";\n") {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("outbox: migrate %s: %w", o.table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: migrate %s: %w", o.table, err)
	}
	return nil
}
