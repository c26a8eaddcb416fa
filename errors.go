package bulwark

import (
	"errors"
	"fmt"
	"time"
)

// Class is what should happen to a record whose handling failed.
type Class int

const (
	// ClassRetryable: retry with backoff (bounded), then dead-letter. Errors
	// of no declared class are retryable, so an unexpected failure is never
	// dropped.
	ClassRetryable Class = iota
	// ClassPermanent: never retry; dead-letter at once.
	ClassPermanent
	// ClassPause: a dependency is unavailable; pause the partition without
	// committing or dead-lettering, and try again after a delay.
	ClassPause
)

// String returns the class name used in dead-letter headers, logs and
// metrics: "retryable", "permanent" or "pause".
func (c Class) String() string {
	switch c {
	case ClassPermanent:
		return "permanent"
	case ClassPause:
		return "pause"
	default:
		return "retryable"
	}
}

// Sentinels for errors.Is. An error wrapped with [Permanent], [Retryable] or
// [Pause] matches the corresponding sentinel.
var (
	ErrPermanent = errors.New("bulwark: permanent error")
	ErrRetryable = errors.New("bulwark: retryable error")
	ErrPause     = errors.New("bulwark: paused")
	// ErrClosed is returned by operations on a closed producer, consumer or
	// session.
	ErrClosed = errors.New("bulwark: closed")
	// ErrFenced: another instance took over this producer's transactional
	// ID (or this group member's identity); this instance must stop, and
	// nothing it left open can commit. Start a fresh instance, which takes
	// over in turn. producer.ErrFenced and eos.ErrFenced are this error, so
	// errors.Is(err, ErrFenced) holds for fencing from either package.
	//
	// It is pause-class ([ClassOf]): fencing concerns the instance, not the
	// record, which must be neither dead-lettered nor committed; a handler
	// that returns it keeps its record and pauses the partition while the
	// application replaces the fenced producer (or the partition moves to
	// the instance that took over).
	ErrFenced = errors.New("bulwark: fenced: another instance took over this transactional ID or group member; this instance must stop")
)

// ClassError is an error with an explicit class. It unwraps to the
// original error and matches the class sentinel with errors.Is.
type ClassError struct {
	Class Class
	Err   error
	// Delay is how long to wait before retrying; used by the pause class,
	// zero means the consumer's default.
	Delay time.Duration
}

func (e *ClassError) Error() string {
	if e.Err == nil {
		return e.Class.String() + " error"
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *ClassError) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's class.
func (e *ClassError) Is(target error) bool {
	switch target {
	case ErrPermanent:
		return e.Class == ClassPermanent
	case ErrRetryable:
		return e.Class == ClassRetryable
	case ErrPause:
		return e.Class == ClassPause
	}
	return false
}

// Permanent marks err as permanent: the record is dead-lettered without
// retries. Permanent(nil) returns nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &ClassError{Class: ClassPermanent, Err: err}
}

// Retryable marks err as retryable. Useful to override the class of an
// error that wraps a permanent one. Retryable(nil) returns nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &ClassError{Class: ClassRetryable, Err: err}
}

// Pause marks err as the pause class: the partition pauses for delay (zero:
// the consumer's default) and the record is tried again, with no commit and
// no dead letter. Pause(nil, d) returns nil.
func Pause(err error, delay time.Duration) error {
	if err == nil {
		return nil
	}
	return &ClassError{Class: ClassPause, Err: err, Delay: delay}
}

// Permanentf is fmt.Errorf wrapped with [Permanent].
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// ErrorClass returns e.Class; it is what [ClassOf] asks.
func (e *ClassError) ErrorClass() Class { return e.Class }

// Classed is an error that declares its own class, as [*ClassError] does
// and as the typed errors of bulwark's packages do (a *conn.ConnectError
// is pause-class: a dependency is unavailable, the record is not at fault).
type Classed interface {
	error
	ErrorClass() Class
}

// ClassOf returns the class of err: that of the outermost [Classed] error
// in its chain (a [ClassError] or a typed error declaring its class),
// [ClassPause] when none is declared and err matches [ErrFenced], else
// [ClassRetryable]. ClassOf(nil) is ClassRetryable but callers should not
// ask about nil errors.
func ClassOf(err error) Class {
	var c Classed
	if errors.As(err, &c) {
		return c.ErrorClass()
	}
	if errors.Is(err, ErrFenced) {
		return ClassPause
	}
	return ClassRetryable
}

// PauseDelay returns the delay of the outermost pause-class error in err's
// chain, and whether err is of the pause class at all.
func PauseDelay(err error) (time.Duration, bool) {
	var ce *ClassError
	if errors.As(err, &ce) && ce.Class == ClassPause {
		return ce.Delay, true
	}
	return 0, false
}
