// Package sqlstore is a [dedup.Store] in a PostgreSQL table through
// database/sql, with [Store.ConfirmTx] to commit the dedup mark in the same
// transaction as a handler's own writes.
//
// The table (see [Schema]) is created by [New] unless [WithoutCreateTable]
// is given:
//
//	CREATE TABLE IF NOT EXISTS bulwark_dedup (
//		dedup_key  text PRIMARY KEY,
//		token      text NOT NULL,
//		confirmed  boolean NOT NULL,
//		expires_at timestamptz NOT NULL
//	);
//	CREATE INDEX IF NOT EXISTS bulwark_dedup_expires_at ON bulwark_dedup (expires_at);
//
// The SQL is PostgreSQL's (ON CONFLICT, clock_timestamp()); any
// database/sql driver for PostgreSQL works.
package sqlstore
