package sqlstore

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/stretchr/testify/assert"
)

// pgError has a SQLSTATE, as the errors of pgx and lib/pq do.
type pgError string

func (e pgError) Error() string    { return "ERROR (SQLSTATE " + string(e) + ")" }
func (e pgError) SQLState() string { return string(e) }

type safeToRetry struct{}

func (safeToRetry) Error() string     { return "conn closed" }
func (safeToRetry) SafeToRetry() bool { return true }

func TestUnavailableClassifiesWhatPostgresSays(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{io.ErrUnexpectedEOF, true},
		{sql.ErrConnDone, true},
		{driver.ErrBadConn, true},
		{errors.New("sql: database is closed"), true},
		{safeToRetry{}, true},
		{pgError("57P01"), true},  // admin_shutdown
		{pgError("57P03"), true},  // cannot_connect_now
		{pgError("53300"), true},  // too_many_connections
		{pgError("08006"), true},  // connection_failure
		{pgError("28P01"), true},  // invalid_password
		{pgError("25006"), true},  // read_only_sql_transaction
		{pgError("22021"), false}, // character_not_in_repertoire: the key itself
		{pgError("40001"), false}, // serialization_failure: retry
		{pgError("23505"), false},
		{pgError(""), false},
		{errors.New("something else"), false},
	} {
		assert.Equal(t, tc.want, unavailable(tc.err), "%v", tc.err)
		err := opError("claim", tc.err)
		assert.ErrorIs(t, err, tc.err)
		classified := ClassifyError(tc.err)
		if tc.want {
			assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err), "%v", tc.err)
			assert.ErrorIs(t, err, dedup.ErrUnavailable)
			assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(classified))
		} else {
			assert.Equal(t, bulwark.ClassRetryable, bulwark.ClassOf(err), "%v", tc.err)
			assert.Equal(t, tc.err, classified, "unchanged")
		}
	}
	assert.NoError(t, ClassifyError(nil))
	already := dedup.Unavailable("sqlstore", "confirm", io.EOF)
	assert.Equal(t, already, ClassifyError(already))
	wrapped := fmt.Errorf("handler: %w", pgError("57P01"))
	assert.ErrorIs(t, ClassifyError(wrapped), wrapped)
}
