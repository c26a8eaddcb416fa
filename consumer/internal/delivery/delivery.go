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
	"github.com/bulwarkgo/bulwark/internal/deadletter"
	"github.com/bulwarkgo/bulwark/internal/fate"
)

// Policy is the retry and dead-letter policy.
type Policy struct {
	// Limits are the record-fate policy's: MaxAttempts bounds
	// consecutive handler calls failing with retryable errors since the
	// record started or since its last pause (1: no retry), MaxElapsed the
	// time spent retrying since the first failure or the first after a
	// pause (0: no bound). A pause-class return starts both afresh: a pause
	// means the record's fate is unknown until the outage ends (an open
	// breaker answers every probe with a pause), so failures from before
	// it say nothing about the record, and a long outage must not use up
	// its attempts and dead-letter it. Backoff spaces retries; PauseDelay
	// is the pause of a pause-class error that has none, growing while the
	// record keeps pausing up to MaxPauseDelay (0: no growth).
	fate.Limits
	// DeadLetterTopic names the dead-letter topic of a source topic.
	DeadLetterTopic func(topic string) string
	// Group is the consumer group named in dead letters ("": none).
	Group string
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
	f := failures{State: fate.State{Limits: &p.Limits}, env: env, msg: msg}
	defer f.end()
	for attempts := 1; ; attempts++ {
		d := f.decide(ctx, err)
		switch d.Kind {
		case fate.Stop:
			return Outcome{Result: Abandoned, Attempts: attempts, Err: err}
		case fate.DeadLetter:
			return deadLetter(ctx, msg, err, attempts, p, env)
		}
		if !f.wait(ctx, err, d) {
			return Outcome{Result: Abandoned, Attempts: attempts, Err: err}
		}
		msg.Attempt = attempts + 1
		if err = safeHandle(ctx, h, msg); err == nil {
			return Outcome{Result: Handled, Attempts: attempts + 1}
		}
	}
}

// failures follows one record (or batch) through its failed attempts:
// the fate policy's state, and the pause and resume hooks around it.
type failures struct {
	fate.State
	env *Env
	// msg is the record the hooks are told about.
	msg    *bulwark.Message
	paused bool
}

// decide reports a failed attempt and asks the policy what follows; it
// ends a pause when the record is no longer paused.
func (f *failures) decide(ctx context.Context, err error) fate.Decision {
	if f.env.OnFailure != nil {
		f.env.OnFailure(f.msg, err)
	}
	if f.Limits.Timed() {
		if f.env.Now != nil {
			f.Now = f.env.Now()
		} else {
			f.Now = time.Now()
		}
	}
	f.Done = ctx.Err() != nil
	var d fate.Decision
	d, f.State = fate.Next(err, f.State)
	if d.Kind != fate.Pause && f.paused {
		f.end()
	}
	return d
}

// wait waits out a Retry or Pause decision, telling the hooks; false when
// ctx ended first.
func (f *failures) wait(ctx context.Context, err error, d fate.Decision) bool {
	if d.Kind == fate.Pause {
		if !f.paused && f.env.OnPause != nil {
			f.env.OnPause(f.msg, err, d.Delay)
		}
		f.paused = true
	} else if f.env.OnRetry != nil {
		f.env.OnRetry(f.msg, err, d.Delay)
	}
	return f.env.Sleep(ctx, d.Delay) == nil
}

// end ends a pause, if any.
func (f *failures) end() {
	if f.paused {
		f.paused = false
		if f.env.OnResume != nil {
			f.env.OnResume(f.msg)
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
