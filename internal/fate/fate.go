package fate

import (
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/backoff"
)

// Kind is what happens to a record after a failed attempt.
type Kind uint8

const (
	// Retry: handle the record again after the decision's Delay.
	Retry Kind = iota
	// Pause: a dependency is unavailable (a pause-class error, an open
	// breaker): keep the record, commit and dead-letter nothing, and try
	// again after Delay.
	Pause
	// DeadLetter: the record cannot succeed (a permanent error, or the
	// retries are used up): write it to its dead-letter topic.
	DeadLetter
	// Stop: the context ended: leave the record uncommitted, so it is
	// delivered again.
	Stop
)

func (k Kind) String() string {
	switch k {
	case Retry:
		return "retry"
	case Pause:
		return "pause"
	case DeadLetter:
		return "dead-letter"
	default:
		return "stop"
	}
}

// Decision is the fate of a record after one failed attempt.
type Decision struct {
	Kind Kind
	// Delay is the wait before the next attempt (Retry and Pause).
	Delay time.Duration
}

// Limits is a caller's configuration of the policy.
type Limits struct {
	// MaxAttempts bounds the retryable failures a record may have before
	// it is dead-lettered (1: no retry).
	MaxAttempts int
	// Backoff spaces retries: retry n waits Backoff.Delay(n).
	Backoff backoff.Policy
	// MaxElapsed bounds the time spent retrying, from [State.Began]: a
	// retry that would end at or past it dead-letters instead (0: no
	// bound).
	MaxElapsed time.Duration
	// PauseDelay is the pause of a pause-class error that carries no delay
	// of its own; it grows while the record keeps pausing, up to
	// MaxPauseDelay (see [backoff.Pause]).
	PauseDelay    time.Duration
	MaxPauseDelay time.Duration
	// Cumulative keeps a record's counts across pauses, as eos does: the
	// retryable failures before a pause still count towards MaxAttempts
	// after it, and every pause (with a delay of its own or not) grows the
	// next default pause. Without it (the consumer) a pause starts the
	// retry budget and MaxElapsed afresh, since failures during an outage
	// say nothing about the record, and only default pauses grow.
	Cumulative bool
}

// Timed reports whether [State.Now] is read, so callers read the clock
// only then.
func (l *Limits) Timed() bool { return l.MaxElapsed > 0 }

// State is what the policy knows of one record. Its zero value (with
// Limits set) is a record that has not failed yet.
type State struct {
	Limits *Limits
	// Retries counts the retryable failures towards MaxAttempts so far.
	Retries int
	// Pauses counts the consecutive pauses that grow the default pause.
	Pauses int
	// Began is when retrying began (the first retryable failure, or the
	// first after a pause); zero until then, and kept only when Timed.
	Began time.Time
	// Now is the time of this failure; read only when Timed.
	Now time.Time
	// Done says the context ended.
	Done bool
}

// Next decides the fate of a record whose attempt failed with err, and
// returns the state to pass with its next failure. Errors of no declared
// class are retryable ([bulwark.ClassOf]).
func Next(err error, s State) (Decision, State) {
	if s.Done {
		return Decision{Kind: Stop}, s
	}
	l := s.Limits
	switch bulwark.ClassOf(err) {
	case bulwark.ClassPause:
		d, _ := bulwark.PauseDelay(err)
		if d <= 0 || l.Cumulative {
			s.Pauses++
		}
		if d <= 0 {
			d = backoff.Pause(l.PauseDelay, l.MaxPauseDelay, s.Pauses)
		}
		if !l.Cumulative {
			s.Retries, s.Began = 0, time.Time{}
		}
		return Decision{Kind: Pause, Delay: d}, s
	case bulwark.ClassRetryable:
		s.Pauses = 0
		s.Retries++
		if s.Retries >= l.MaxAttempts {
			return Decision{Kind: DeadLetter}, s
		}
		d := l.Backoff.Delay(s.Retries)
		if l.Timed() {
			if s.Began.IsZero() {
				s.Began = s.Now
			}
			if s.Now.Add(d).Sub(s.Began) >= l.MaxElapsed {
				return Decision{Kind: DeadLetter}, s
			}
		}
		return Decision{Kind: Retry, Delay: d}, s
	default:
		s.Pauses = 0
		return Decision{Kind: DeadLetter}, s
	}
}
