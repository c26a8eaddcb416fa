package fate

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/backoff"
)

var errBoom = errors.New("boom")

// fixed is a backoff without jitter, so the expected delays are exact.
var fixed = backoff.Policy{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Jitter: backoff.None}

func TestNext(t *testing.T) {
	t0 := time.Unix(1000, 0)
	limits := Limits{MaxAttempts: 3, Backoff: fixed, PauseDelay: 100 * time.Millisecond, MaxPauseDelay: 400 * time.Millisecond}
	timed := limits
	timed.MaxElapsed = 25 * time.Millisecond
	cumulative := limits
	cumulative.Cumulative = true

	tests := []struct {
		name    string
		limits  Limits
		err     error
		in      State
		want    Decision
		retries int
		pauses  int
	}{
		{name: "permanent dead-letters at once", limits: limits, err: bulwark.Permanent(errBoom),
			want: Decision{Kind: DeadLetter}},
		{name: "permanent resets the pause count", limits: limits, err: bulwark.Permanent(errBoom),
			in: State{Pauses: 3}, want: Decision{Kind: DeadLetter}},
		{name: "unknown error is retryable", limits: limits, err: errBoom,
			want: Decision{Kind: Retry, Delay: 10 * time.Millisecond}, retries: 1},
		{name: "second retry doubles the delay", limits: limits, err: bulwark.Retryable(errBoom),
			in: State{Retries: 1}, want: Decision{Kind: Retry, Delay: 20 * time.Millisecond}, retries: 2},
		{name: "retries used up dead-letter", limits: limits, err: errBoom,
			in: State{Retries: 2}, want: Decision{Kind: DeadLetter}, retries: 3},
		{name: "one attempt means no retry", limits: Limits{MaxAttempts: 1, Backoff: fixed}, err: errBoom,
			want: Decision{Kind: DeadLetter}, retries: 1},
		{name: "retry within max elapsed", limits: timed, err: errBoom,
			in: State{Now: t0}, want: Decision{Kind: Retry, Delay: 10 * time.Millisecond}, retries: 1},
		{name: "retry that would end past max elapsed dead-letters", limits: timed, err: errBoom,
			in: State{Retries: 1, Began: t0, Now: t0.Add(10 * time.Millisecond)}, want: Decision{Kind: DeadLetter}, retries: 2},
		{name: "pause without delay uses the base", limits: limits, err: bulwark.Pause(errBoom, 0),
			want: Decision{Kind: Pause, Delay: 100 * time.Millisecond}, pauses: 1},
		{name: "pause with its own delay keeps it and does not grow", limits: limits, err: bulwark.Pause(errBoom, 7*time.Millisecond),
			in: State{Pauses: 2}, want: Decision{Kind: Pause, Delay: 7 * time.Millisecond}, pauses: 2},
		{name: "pause starts the retry budget afresh", limits: limits, err: bulwark.Pause(errBoom, time.Second),
			in: State{Retries: 2, Began: t0}, want: Decision{Kind: Pause, Delay: time.Second}},
		{name: "cumulative pause keeps the retry count and grows", limits: cumulative, err: bulwark.Pause(errBoom, time.Second),
			in: State{Retries: 2, Pauses: 1}, want: Decision{Kind: Pause, Delay: time.Second}, retries: 2, pauses: 2},
		{name: "fenced pauses", limits: limits, err: fmt.Errorf("commit: %w", bulwark.ErrFenced),
			want: Decision{Kind: Pause, Delay: 100 * time.Millisecond}, pauses: 1},
		{name: "ended context stops whatever the error", limits: limits, err: bulwark.Permanent(context.Canceled),
			in: State{Done: true, Retries: 1}, want: Decision{Kind: Stop}, retries: 1},
		{name: "retry resets the pause count", limits: limits, err: errBoom,
			in: State{Pauses: 4}, want: Decision{Kind: Retry, Delay: 10 * time.Millisecond}, retries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Limits = &tt.limits
			got, next := Next(tt.err, in)
			if got != tt.want {
				t.Fatalf("Next = %+v (%v), want %+v (%v)", got, got.Kind, tt.want, tt.want.Kind)
			}
			if next.Retries != tt.retries || next.Pauses != tt.pauses {
				t.Fatalf("next state retries=%d pauses=%d, want %d, %d", next.Retries, next.Pauses, tt.retries, tt.pauses)
			}
		})
	}
}

// A dependency that stays down is asked less and less often, never more
// often than the base and never less often than the ceiling.
func TestDefaultPauseGrowsToTheCeiling(t *testing.T) {
	l := Limits{MaxAttempts: 3, PauseDelay: 100 * time.Millisecond, MaxPauseDelay: 400 * time.Millisecond}
	s := State{Limits: &l}
	var d Decision
	var last time.Duration
	for i := 0; i < 10; i++ {
		d, s = Next(bulwark.Pause(errBoom, 0), s)
		if d.Kind != Pause || d.Delay < l.PauseDelay || d.Delay > l.MaxPauseDelay {
			t.Fatalf("pause %d: %+v, want a pause in [%v, %v]", i+1, d, l.PauseDelay, l.MaxPauseDelay)
		}
		last = d.Delay
	}
	if s.Pauses != 10 {
		t.Fatalf("pauses counted %d, want 10", s.Pauses)
	}
	if last <= l.PauseDelay/2*2 && last == l.PauseDelay {
		// Half jitter of the 400ms ceiling is at least 200ms.
		t.Fatalf("tenth pause %v did not grow past the base %v", last, l.PauseDelay)
	}
}

// A record that keeps failing is dead-lettered after exactly MaxAttempts
// attempts, with the backoff between them.
func TestRetriesEndInDeadLetter(t *testing.T) {
	l := Limits{MaxAttempts: 4, Backoff: fixed}
	s := State{Limits: &l}
	var delays []time.Duration
	for i := 0; i < 10; i++ {
		var d Decision
		d, s = Next(errBoom, s)
		if d.Kind == DeadLetter {
			break
		}
		if d.Kind != Retry {
			t.Fatalf("attempt %d: %v, want retry", i+1, d.Kind)
		}
		delays = append(delays, d.Delay)
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	if fmt.Sprint(delays) != fmt.Sprint(want) {
		t.Fatalf("delays %v, want %v then dead letter", delays, want)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Retry: "retry", Pause: "pause", DeadLetter: "dead-letter", Stop: "stop"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}
