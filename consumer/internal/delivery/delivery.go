// Package delivery decides what happens to one consumed record: handle it,
// retry it in place, pause on a pause-class error, or dead-letter it. The
// consumer and consumertest both call [Deliver], so what a unit test sees is
// what the consumer does.
package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/deadletter"
)

// Policy is the retry and dead-letter policy.
type Policy struct {
	// MaxAttempts bounds consecutive handler calls failing with retryable
	// errors since the record started or since its last pause (1: no
	// retry). A pause-class return starts the budget afresh: a pause means
	// the record's fate is unknown until the outage ends (an open breaker
	// answers every probe with a pause), so failures from before it say
	// nothing about the record, and a long outage must not use up its
	// attempts and dead-letter it.
	MaxAttempts int
	// Backoff spaces retries.
	Backoff backoff.Policy
	// MaxElapsed bounds the time spent retrying one record since its first
	// failure, or its first failure after a pause (0: no bound); time
	// paused does not count, for the same reason.
	MaxElapsed time.Duration
	// PauseDelay is the pause used when a pause-class error has none.
	PauseDelay time.Duration
	// MaxPauseDelay lets that pause grow while the record keeps pausing
	// (a dependency that stays down is asked less and less often): the
	// n-th consecutive pause waits about PauseDelay*2^(n-1), at most
	// MaxPauseDelay and never less than PauseDelay. 0: no growth.
	MaxPauseDelay time.Duration
	// DeadLetterTopic names the dead-letter topic of a source topic.
	DeadLetterTopic func(topic string) string
	// Group is the consumer group named in dead letters ("": none).
	Group string
}

// retryEndsInTime reports whether a retry after delay ends within
// MaxElapsed of *start, the first failure, which it sets when zero.
func (p *Policy) retryEndsInTime(now func() time.Time, start *time.Time, delay time.Duration) bool {
	if p.MaxElapsed <= 0 {
		return true
	}
	t := now()
	if start.IsZero() {
		*start = t
	}
	return t.Add(delay).Sub(*start) < p.MaxElapsed
}

// pauseDelay is the delay of the n-th consecutive pause (from 1) whose
// error carries none.
func (p *Policy) pauseDelay(n int) time.Duration {
	return backoff.Pause(p.PauseDelay, p.MaxPauseDelay, n)
}

// Env connects Deliver to its surroundings. Sleep and DeadLetter are
// required; the On* hooks are optional.
type Env struct {
	// Sleep waits d or until ctx ends (then it returns ctx's error).
	Sleep func(ctx context.Context, d time.Duration) error
	// DeadLetter writes a dead-letter record and returns once it is
	// acknowledged.
	DeadLetter func(ctx context.Context, dl *bulwark.Message) error
	// Now returns the current time (nil: time.Now).
	Now func() time.Time

	OnFailure func(msg *bulwark.Message, err error)
	OnRetry   func(msg *bulwark.Message, err error, delay time.Duration)
	OnPause   func(msg *bulwark.Message, err error, delay time.Duration)
	OnResume  func(msg *bulwark.Message)
}

// Result is how a delivery ended.
type Result int

const (
	// Handled: the handler returned nil; the offset may be committed.
	Handled Result = iota
	// DeadLettered: the record was written to the dead-letter topic; the
	// offset may be committed.
	DeadLettered
	// Abandoned: ctx ended first; the offset must not be committed, so the
	// record is delivered again.
	Abandoned
)

// Outcome describes a finished delivery.
type Outcome struct {
	Result Result
	// Attempts is how often the handler ran.
	Attempts int
	// Err is the handler's last error (nil when Handled).
	Err error
	// DeadLetter is the record written to the dead-letter topic, if any.
	DeadLetter *bulwark.Message
}

// Finished reports whether the record's offset may be committed.
func (o Outcome) Finished() bool { return o.Result != Abandoned }

// Deliver runs h on msg until the record is handled, dead-lettered or ctx
// ends. msg.Attempt is set before each call and counts every call,
// pause-class ones included.
func Deliver(ctx context.Context, h bulwark.Handler, msg *bulwark.Message, p *Policy, env *Env) Outcome {
	// Most records succeed at once: that call goes without the retry
	// loop's set-up, which costs about as much as a no-op handler.
	msg.Attempt = 1
	err := safeHandle(ctx, h, msg)
	if err == nil {
		return Outcome{Result: Handled, Attempts: 1}
	}
	return retry(ctx, h, msg, err, p, env)
}

// retry carries on after the first attempt failed with err.
func retry(ctx context.Context, h bulwark.Handler, msg *bulwark.Message, err error, p *Policy, env *Env) Outcome {
	now := env.Now
	if now == nil {
		now = time.Now
	}
	// start is when retrying began: the first failure, or the first after
	// a pause. It is read from the clock only when MaxElapsed is set.
	var start time.Time
	attempts, retries := 1, 0
	paused := false
	pauses := 0 // consecutive pauses without a delay of their own
	defer func() {
		if paused && env.OnResume != nil {
			env.OnResume(msg)
		}
	}()
	for {
		if env.OnFailure != nil {
			env.OnFailure(msg, err)
		}
		if ctx.Err() != nil {
			return Outcome{Result: Abandoned, Attempts: attempts, Err: err}
		}
		class := bulwark.ClassOf(err)
		if class != bulwark.ClassPause && paused {
			paused, pauses = false, 0
			if env.OnResume != nil {
				env.OnResume(msg)
			}
		}
		switch class {
		case bulwark.ClassPause:
			d, _ := bulwark.PauseDelay(err)
			if d <= 0 {
				pauses++
				d = p.pauseDelay(pauses)
			}
			if !paused && env.OnPause != nil {
				env.OnPause(msg, err, d)
			}
			paused = true
			if env.Sleep(ctx, d) != nil {
				return Outcome{Result: Abandoned, Attempts: attempts, Err: err}
			}
			retries, start = 0, time.Time{}
		case bulwark.ClassRetryable:
			retries++
			delay := p.Backoff.Delay(retries)
			if retries >= p.MaxAttempts || !p.retryEndsInTime(now, &start, delay) {
				return deadLetter(ctx, msg, err, attempts, p, env)
			}
			if env.OnRetry != nil {
				env.OnRetry(msg, err, delay)
			}
			if env.Sleep(ctx, delay) != nil {
				return Outcome{Result: Abandoned, Attempts: attempts, Err: err}
			}
		default:
			return deadLetter(ctx, msg, err, attempts, p, env)
		}
		attempts++
		msg.Attempt = attempts
		if err = safeHandle(ctx, h, msg); err == nil {
			return Outcome{Result: Handled, Attempts: attempts}
		}
	}
}

// deadLetter writes the dead letter, retrying until it is acknowledged or
// ctx ends: a record whose dead letter was not written is not finished.
func deadLetter(ctx context.Context, msg *bulwark.Message, cause error, attempts int, p *Policy, env *Env) Outcome {
	dl := deadletter.Record(p.DeadLetterTopic(msg.Topic), p.Group, msg, cause, attempts)
	for try := 1; ; try++ {
		err := env.DeadLetter(ctx, dl)
		if err == nil {
			return Outcome{Result: DeadLettered, Attempts: attempts, Err: cause, DeadLetter: dl}
		}
		if ctx.Err() != nil || env.Sleep(ctx, p.Backoff.Delay(try)) != nil {
			return Outcome{Result: Abandoned, Attempts: attempts, Err: cause}
		}
	}
}

// safeHandle turns a handler panic into a retryable error, so one bad
// record cannot take the consumer (and every partition it owns) down.
func safeHandle(ctx context.Context, h bulwark.Handler, msg *bulwark.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h.Handle(ctx, msg)
}
