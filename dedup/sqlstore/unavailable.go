package sqlstore

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/bulwarkgo/bulwark/dedup"
)

// unavailable reports whether err says PostgreSQL is unavailable: what
// [dedup.IsUnavailable] says of every store (network errors, EOF,
// timeouts), a closed pool or connection, an error the driver marks safe
// to retry because the server never saw the request (pgx), and the
// SQLSTATEs below. This is the store's one place for it; it reads the
// driver's errors through interfaces, so any PostgreSQL driver works.
//
// An error about the statement itself (a key PostgreSQL cannot store, a
// serialization failure under contention) is none of these and stays a
// plain error: retried, then dead-lettered by the consumer.
func unavailable(err error) bool {
	if dedup.IsUnavailable(err) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) ||
		// database/sql's own error for a closed *sql.DB is not exported.
		strings.Contains(err.Error(), "sql: database is closed") {
		return true
	}
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) && unavailableState(coded.SQLState()) {
		return true
	}
	var retry interface{ SafeToRetry() bool }
	return errors.As(err, &retry) && retry.SafeToRetry()
}

// unavailableState: the SQLSTATEs of a server that cannot serve anyone
// now, whatever the statement.
func unavailableState(code string) bool {
	switch code {
	case "57P01", // admin_shutdown: the server is stopping (a restart)
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now: starting up or shutting down
		"57P05", // idle_session_timeout
		"57014", // query_canceled: statement_timeout on a server too busy to answer
		"25006": // read_only_sql_transaction: a standby after failover
		return true
	}
	if len(code) < 2 {
		return false
	}
	switch code[:2] {
	case "08", // connection exception
		"53", // insufficient resources: too many connections, disk full, out of memory
		"58", // system error: I/O error
		"28": // invalid authorization: a password rotated under the running service
		return true
	}
	return false
}

// opError is the store's error for a failed op: a pause-class
// [dedup.UnavailableError] when PostgreSQL is unavailable.
func opError(op string, err error) error { return dedup.OpError("sqlstore", op, err, unavailable) }

// ClassifyError returns err as a pause-class [*dedup.UnavailableError]
// (Op "handler") when it says PostgreSQL is unavailable, by the store's
// own rules, and err unchanged otherwise (nil for nil). A handler that
// writes its side effect to the same database, in the transaction of
// [Store.ConfirmTx], passes its database errors through it, so that an
// outage pauses the partition instead of using up the record's attempts:
//
//	tx, err := db.BeginTx(ctx, nil)
//	if err != nil {
//		return sqlstore.ClassifyError(err)
//	}
func ClassifyError(err error) error {
	if err == nil || errors.Is(err, dedup.ErrUnavailable) || !unavailable(err) {
		return err
	}
	return dedup.Unavailable("sqlstore", "handler", err)
}
