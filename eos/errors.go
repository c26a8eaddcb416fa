package eos

import (
	"errors"
	"fmt"

	"github.com/bulwarkgo/bulwark"
)

var (
	// ErrInvalidConfig is wrapped by every error New returns for bad
	// arguments or options.
	ErrInvalidConfig = errors.New("eos: invalid configuration")
	// ErrFenced matches a [FencedError]: another producer with the same
	// transactional ID took over. It is [bulwark.ErrFenced], the one
	// fencing sentinel (pause-class).
	ErrFenced = bulwark.ErrFenced
	// ErrProducerFailed matches a [ProducerError]: the transactional
	// producer reached a state it cannot leave.
	ErrProducerFailed = errors.New("eos: transactional producer failed")
	// ErrAlreadyRunning is returned by Run while another Run of the same
	// session is active.
	ErrAlreadyRunning = errors.New("eos: session already running")
)

// FencedError stops Run when another producer with the same transactional
// ID fenced this one: a newer instance with the same instance identity is
// running. Nothing this session left open can commit any more. Calling Run
// again starts a fresh producer, which fences the other one in turn.
type FencedError struct {
	TransactionalID string
	Err             error
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("eos: producer %s fenced: %v", e.TransactionalID, e.Err)
}

// Unwrap returns the broker's error.
func (e *FencedError) Unwrap() error { return e.Err }

// Is matches [ErrFenced].
func (e *FencedError) Is(target error) bool { return target == ErrFenced }

// ProducerError stops Run when the transactional producer can no longer be
// used for a reason other than fencing (an abort that failed, a fatal broker
// answer). The open transaction is aborted by the broker (at the latest
// after the transaction timeout) or by the next producer with the same ID.
type ProducerError struct {
	TransactionalID string
	Op              string
	Err             error
}

func (e *ProducerError) Error() string {
	return fmt.Sprintf("eos: producer %s: %s: %v", e.TransactionalID, e.Op, e.Err)
}

// Unwrap returns the underlying error.
func (e *ProducerError) Unwrap() error { return e.Err }

// Is matches [ErrProducerFailed].
func (e *ProducerError) Is(target error) bool { return target == ErrProducerFailed }

func invalidConfig(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}
