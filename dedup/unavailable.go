package dedup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/bulwarkgo/bulwark"
)

// ErrUnavailable: the store's server cannot be reached or is not serving
// requests now (connection refused or reset, a timeout, EOF, a closed
// client or pool, a server restarting or out of connections). Nothing is
// wrong with the record: the middleware returns such errors as pause-class
// ([bulwark.ClassPause]), so the consumer pauses the partition without
// using a retry attempt or dead-lettering, and tries again until the store
// is back.
var ErrUnavailable = errors.New("dedup: store unavailable")

// UnavailableError is a store's error when its server is unavailable (see
// [ErrUnavailable], which it matches). It unwraps to the driver's error.
// Store constructors that check connectivity return it too, with Op
// "connect".
type UnavailableError struct {
	Store string // the store package, e.g. "redisstore"
	Op    string // what failed: "connect", "claim", "confirm", "release"...
	Err   error
}

func (e *UnavailableError) Error() string {
	return e.Store + ": " + e.Op + ": store unavailable: " + e.Err.Error()
}

// Unwrap returns the driver's error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrUnavailable].
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unavailable returns err as an [UnavailableError] of store's op, marked
// pause-class ([bulwark.Pause] with the consumer's default delay), so that
// a handler returning it unchanged (e.g. the error of the SQL store's
// ConfirmTx) pauses too. Stores call it for the errors their own knowledge
// of the server classifies as unavailable, and at least for those
// [IsUnavailable] reports.
func Unavailable(store, op string, err error) error {
	if err == nil {
		return nil
	}
	return bulwark.Pause(&UnavailableError{Store: store, Op: op, Err: err}, 0)
}

// OpError is what a store returns for a failed op: a pause-class
// [*UnavailableError] when unavailable(err) says the store's server is
// unavailable, else err wrapped as "store: op: err". Store implementations
// use it so that their outages pause instead of dead-lettering.
func OpError(store, op string, err error, unavailable func(error) bool) error {
	if unavailable(err) {
		return Unavailable(store, op, err)
	}
	return fmt.Errorf("%s: %s: %w", store, op, err)
}

// IsUnavailable reports whether err says a store's server is unavailable
// rather than that something is wrong with the record: it matches
// [ErrUnavailable], or it is a network error (refused, reset, broken pipe,
// unreachable, a timeout, a DNS failure), an EOF, or a deadline exceeded.
// A cancelled context is not: the caller gave up, the server did not fail.
//
// This is the one place where the transport-level faults every store shares
// are told apart; each store adds what only its server says (Redis
// LOADING, PostgreSQL's SQLSTATE 57P01...) and wraps both with
// [Unavailable]. The middleware asks it of every store error, so a custom
// [Store] whose driver returns plain network errors pauses as well.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	// Every net.Error counts, *net.AddrError for a malformed address too:
	// the store constructors' connectivity check reports those at start-up,
	// and at run time pausing is the choice that burns no record.
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH)
}

// storeError is the error the middleware returns for a failed store call:
// pause-class when the store is unavailable, retryable otherwise (an error
// the store has no name for may concern the record, e.g. a key the store
// cannot hold, and must not pause the partition forever).
func storeError(op, key string, err error) error {
	wrapped := fmt.Errorf("dedup: %s %q: %w", op, key, err)
	if IsUnavailable(err) {
		return bulwark.Pause(wrapped, 0)
	}
	return bulwark.Retryable(wrapped)
}
