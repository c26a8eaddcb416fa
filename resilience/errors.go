package resilience

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinels for errors.Is. ErrBreakerOpen, ErrBulkheadFull and
// ErrRateLimited reach the caller wrapped in the pause class
// ([bulwark.Pause]): the dependency is not failing the record, it is asking
// the caller to come back later, so a consumer pauses the partition instead
// of retrying or dead-lettering.
var (
	// ErrBreakerOpen: the circuit breaker is open (or half-open with every
	// probe already in flight); the call was not made.
	ErrBreakerOpen = errors.New("resilience: circuit breaker open")
	// ErrBulkheadFull: no concurrency slot came free within the bulkhead's
	// maximum wait; the call was not made.
	ErrBulkheadFull = errors.New("resilience: bulkhead full")
	// ErrRateLimited: no permit would come free within the rate limiter's
	// maximum wait; the call was not made.
	ErrRateLimited = errors.New("resilience: rate limited")
	// ErrTimeout: the call ran past the per-call time limit of a [Timeout].
	// The returned [*TimeoutError] also matches context.DeadlineExceeded.
	ErrTimeout = errors.New("resilience: call timed out")
	// ErrInvalidConfig: a constructor was given an invalid option.
	ErrInvalidConfig = errors.New("resilience: invalid config")
)

// TimeoutError is returned by a [Timeout] when the call outlived its limit.
// It matches [ErrTimeout] and context.DeadlineExceeded with errors.Is, and
// unwraps to the error the call itself returned. Its class is that of the
// call's error: retryable unless the call declared otherwise.
type TimeoutError struct {
	// Limit is the time limit that was exceeded.
	Limit time.Duration
	// Err is what the call returned once its context expired; nil when it
	// ignored the context and returned success too late.
	Err error
}

func (e *TimeoutError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("resilience: call timed out after %s", e.Limit)
	}
	return fmt.Sprintf("resilience: call timed out after %s: %v", e.Limit, e.Err)
}

// Unwrap returns ErrTimeout, context.DeadlineExceeded and the call's error.
func (e *TimeoutError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrTimeout, context.DeadlineExceeded}
	}
	return []error{ErrTimeout, context.DeadlineExceeded, e.Err}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}
