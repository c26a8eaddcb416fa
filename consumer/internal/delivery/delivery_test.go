package delivery

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/fate"
)

// script is a handler that returns its errors in turn, then nil.
type script struct {
	errs  []error
	calls int
}

func (s *script) Handle(context.Context, *bulwark.Message) error {
	s.calls++
	if s.calls <= len(s.errs) {
		return s.errs[s.calls-1]
	}
	return nil
}

// fakeEnv sleeps on a fake clock and records what the consumer would do.
type fakeEnv struct {
	now         time.Time
	pauses      int
	resumes     int
	deadLetters []*bulwark.Message
	dltErrs     []error
}

func (f *fakeEnv) env() *Env {
	return &Env{
		Sleep: func(ctx context.Context, d time.Duration) error {
			f.now = f.now.Add(d)
			return ctx.Err()
		},
		DeadLetter: func(_ context.Context, dl *bulwark.Message) error {
			if len(f.dltErrs) > 0 {
				err := f.dltErrs[0]
				f.dltErrs = f.dltErrs[1:]
				return err
			}
			f.deadLetters = append(f.deadLetters, dl)
			return nil
		},
		Now:      func() time.Time { return f.now },
		OnPause:  func(*bulwark.Message, error, time.Duration) { f.pauses++ },
		OnResume: func(*bulwark.Message) { f.resumes++ },
	}
}

func policy(maxAttempts int) *Policy {
	return &Policy{
		Limits: fate.Limits{
			MaxAttempts: maxAttempts,
			Backoff:     backoff.Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
			PauseDelay:  time.Second,
		},
		DeadLetterTopic: func(t string) string { return t + ".dlt" },
	}
}

var (
	errFlaky  = errors.New("flaky")
	errBroken = bulwark.Pause(errors.New("breaker open"), time.Hour)
)

func msg() *bulwark.Message { return &bulwark.Message{Topic: "in", Partition: 0, Offset: 7} }

func TestOutcomesByClass(t *testing.T) {
	for name, tc := range map[string]struct {
		errs     []error
		want     Result
		attempts int
	}{
		"handled":              {nil, Handled, 1},
		"retried then ok":      {[]error{errFlaky, errFlaky}, Handled, 3},
		"retries exhausted":    {[]error{errFlaky, errFlaky, errFlaky}, DeadLettered, 3},
		"permanent at once":    {[]error{bulwark.Permanentf("bad")}, DeadLettered, 1},
		"pause then ok":        {[]error{errBroken, errBroken}, Handled, 3},
		"panic is retryable":   {nil, Handled, 2}, // handler below panics once
		"retryable ends pause": {[]error{errBroken, errFlaky}, Handled, 3},
	} {
		t.Run(name, func(t *testing.T) {
			var h bulwark.Handler = &script{errs: tc.errs}
			if name == "panic is retryable" {
				calls := 0
				h = bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
					calls++
					if calls == 1 {
						panic("boom")
					}
					return nil
				})
			}
			f := &fakeEnv{now: time.Unix(0, 0)}
			out := Deliver(context.Background(), h, msg(), policy(3), f.env())
			if out.Result != tc.want || out.Attempts != tc.attempts {
				t.Fatalf("result %v after %d attempts, want %v after %d", out.Result, out.Attempts, tc.want, tc.attempts)
			}
			if f.pauses != f.resumes {
				t.Fatalf("%d pauses, %d resumes", f.pauses, f.resumes)
			}
			if (tc.want == DeadLettered) != (len(f.deadLetters) == 1) {
				t.Fatalf("dead letters %d", len(f.deadLetters))
			}
		})
	}
}

// Pause-class returns start the retry budget afresh: failed probes during a
// long outage never add up to MaxAttempts.
func TestPauseResetsRetryBudget(t *testing.T) {
	var errs []error
	for range 10 { // ten outages, each with two failed probes before it
		errs = append(errs, errFlaky, errFlaky, errBroken)
	}
	h := &script{errs: errs}
	f := &fakeEnv{now: time.Unix(0, 0)}
	out := Deliver(context.Background(), h, msg(), policy(3), f.env())
	if out.Result != Handled || out.Attempts != 31 {
		t.Fatalf("result %v after %d attempts, want handled after 31", out.Result, out.Attempts)
	}
	if len(f.deadLetters) != 0 {
		t.Fatalf("dead-lettered %d records", len(f.deadLetters))
	}
	if f.pauses != 10 || f.resumes != 10 {
		t.Fatalf("%d pauses, %d resumes, want 10 each", f.pauses, f.resumes)
	}
}

// The budget still holds between pauses: MaxAttempts consecutive retryable
// failures after a pause dead-letter the record.
func TestRetryBudgetAfterPauseStillBounded(t *testing.T) {
	h := &script{errs: []error{errFlaky, errFlaky, errBroken, errFlaky, errFlaky, errFlaky, errFlaky}}
	f := &fakeEnv{now: time.Unix(0, 0)}
	out := Deliver(context.Background(), h, msg(), policy(3), f.env())
	if out.Result != DeadLettered || out.Attempts != 6 {
		t.Fatalf("result %v after %d attempts, want dead-lettered after 6", out.Result, out.Attempts)
	}
	attempts, _ := f.deadLetters[0].Header(bulwark.HeaderDLTAttempts)
	if string(attempts) != "6" {
		t.Fatalf("dead letter attempts header %q, want 6", attempts)
	}
}

// Time spent paused does not count toward MaxElapsed.
func TestPauseResetsElapsedBudget(t *testing.T) {
	p := policy(100)
	p.MaxElapsed = time.Second
	// An hour-long pause between two retryable failures.
	h := &script{errs: []error{errFlaky, errBroken, errFlaky}}
	f := &fakeEnv{now: time.Unix(0, 0)}
	out := Deliver(context.Background(), h, msg(), p, f.env())
	if out.Result != Handled || out.Attempts != 4 {
		t.Fatalf("result %v after %d attempts, want handled after 4", out.Result, out.Attempts)
	}
	// Without a pause the elapsed bound still applies.
	h = &script{errs: []error{errFlaky, errFlaky, errFlaky, errFlaky, errFlaky}}
	p.Backoff = backoff.Policy{Initial: 400 * time.Millisecond, Max: 400 * time.Millisecond}
	f = &fakeEnv{now: time.Unix(0, 0)}
	out = Deliver(context.Background(), h, msg(), p, f.env())
	if out.Result != DeadLettered {
		t.Fatalf("result %v after %d attempts, want dead-lettered by MaxElapsed", out.Result, out.Attempts)
	}
}

// MaxElapsed counts from the first failure: a slow first attempt does not
// use up the retry time.
func TestElapsedBudgetStartsAtFirstFailure(t *testing.T) {
	p := policy(100)
	p.MaxElapsed = time.Second
	f := &fakeEnv{now: time.Unix(0, 0)}
	slowThenFlaky := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		if f.now.Equal(time.Unix(0, 0)) {
			f.now = f.now.Add(time.Minute) // the first attempt runs a minute, then fails
			return errFlaky
		}
		return nil
	})
	out := Deliver(context.Background(), slowThenFlaky, msg(), p, f.env())
	if out.Result != Handled || out.Attempts != 2 {
		t.Fatalf("result %v after %d attempts, want handled on the retry", out.Result, out.Attempts)
	}
}

// A dead letter that cannot be written is retried; ctx ending first
// abandons the record.
func TestDeadLetterWriteRetriedThenAbandoned(t *testing.T) {
	h := &script{errs: []error{bulwark.Permanentf("bad")}}
	f := &fakeEnv{now: time.Unix(0, 0), dltErrs: []error{errors.New("down"), errors.New("down")}}
	out := Deliver(context.Background(), h, msg(), policy(3), f.env())
	if out.Result != DeadLettered || len(f.deadLetters) != 1 {
		t.Fatalf("result %v, %d dead letters", out.Result, len(f.deadLetters))
	}
	// The consumer stops while the dead letter keeps failing.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h = &script{errs: []error{bulwark.Permanentf("bad")}}
	f = &fakeEnv{now: time.Unix(0, 0)}
	env := f.env()
	writes := 0
	env.DeadLetter = func(context.Context, *bulwark.Message) error {
		writes++
		if writes == 3 {
			cancel()
		}
		return errors.New("down")
	}
	if out := Deliver(ctx, h, msg(), policy(3), env); out.Result != Abandoned || out.Finished() || writes != 3 {
		t.Fatalf("result %v after %d writes, want abandoned after 3", out.Result, writes)
	}
}

// A dependency that stays down is asked less and less often: the pause
// without a delay of its own grows from PauseDelay up to MaxPauseDelay,
// never dead-letters, and starts small again after the next success.
func TestPauseDelayGrowsWhileDependencyStaysDown(t *testing.T) {
	const down = 8
	calls := 0
	h := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		calls++
		if calls <= down {
			return bulwark.Pause(errors.New("redis: connection refused"), 0)
		}
		return nil
	})
	var waits []time.Duration
	f := &fakeEnv{now: time.Unix(0, 0)}
	env := f.env()
	env.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	p := policy(1)
	p.PauseDelay, p.MaxPauseDelay = time.Second, 10*time.Second
	out := Deliver(context.Background(), h, &bulwark.Message{Topic: "t"}, p, env)
	if out.Result != Handled || len(f.deadLetters) != 0 {
		t.Fatalf("result %v, %d dead letters; want handled, none", out.Result, len(f.deadLetters))
	}
	if len(waits) != down {
		t.Fatalf("%d pauses, want %d", len(waits), down)
	}
	if waits[0] != time.Second {
		t.Fatalf("first pause %v, want PauseDelay (1s)", waits[0])
	}
	for i, w := range waits {
		if w < time.Second || w > 10*time.Second {
			t.Fatalf("pause %d = %v, outside [PauseDelay, MaxPauseDelay]", i+1, w)
		}
	}
	if last := waits[len(waits)-1]; last < 5*time.Second {
		t.Fatalf("pause %d = %v: did not grow towards MaxPauseDelay (waits %v)", down, last, waits)
	}
	if f.pauses != 1 || f.resumes != 1 {
		t.Fatalf("pauses %d resumes %d, want 1 and 1", f.pauses, f.resumes)
	}
	// Without MaxPauseDelay the pause stays fixed.
	calls, waits = 0, nil
	p.MaxPauseDelay = 0
	Deliver(context.Background(), h, &bulwark.Message{Topic: "t"}, p, env)
	for _, w := range waits {
		if w != time.Second {
			t.Fatalf("pause %v without MaxPauseDelay, want a fixed 1s", w)
		}
	}
}
