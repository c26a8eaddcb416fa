package topicwait

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

var errUnknown = errors.New("unknown topic")

// sleeps records the waits and returns at once, or ctx's error.
type sleeps []time.Duration

func (s *sleeps) Now() time.Time { return time.Time{} }
func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	*s = append(*s, d)
	return ctx.Err()
}

func check(log *bytes.Buffer, clk *sleeps, missing func([]string) ([]string, error)) Check {
	return Check{
		Missing:           missing,
		Required:          []string{"in", "retry"},
		DeadLetter:        []string{"in.dlt", "retry", "in.dlt"},
		Unknown:           errUnknown,
		Log:               slog.New(slog.NewTextHandler(log, nil)),
		CannotCheck:       "cannot check",
		DeadLetterMissing: "dead-letter topic missing",
		WaitingFor:        "waiting for topics",
		Clock:             clk,
	}
}

func TestAwaitFailsNamingMissingRequiredTopics(t *testing.T) {
	var log bytes.Buffer
	var asked [][]string
	c := check(&log, &sleeps{}, func(ts []string) ([]string, error) {
		asked = append(asked, ts)
		return []string{"retry", "in.dlt"}, nil
	})
	err := Await(context.Background(), c)
	if !errors.Is(err, errUnknown) || !strings.Contains(err.Error(), ": retry (create it") {
		t.Fatalf("err = %v, want errUnknown naming retry only", err)
	}
	if want := [][]string{{"in", "retry", "in.dlt"}}; !slices.EqualFunc(asked, want, slices.Equal) {
		t.Fatalf("asked %v, want %v (each topic once)", asked, want)
	}
}

func TestAwaitWarnsOfMissingDeadLetterTopicOnly(t *testing.T) {
	var log bytes.Buffer
	c := check(&log, &sleeps{}, func([]string) ([]string, error) { return []string{"in.dlt"}, nil })
	if err := Await(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), `level=WARN msg="dead-letter topic missing" topics=in.dlt`) {
		t.Fatalf("log: %s", log.String())
	}
}

func TestAwaitWaitsVisiblyWithGrowingChecks(t *testing.T) {
	var log bytes.Buffer
	var clk sleeps
	answers := [][]string{{"in", "retry"}, {"retry"}, {"retry"}, nil}
	c := check(&log, &clk, func([]string) ([]string, error) {
		a := answers[0]
		answers = answers[1:]
		return a, nil
	})
	c.Wait = true
	var seen [][]string
	c.Waiting = func(m []string) { seen = append(seen, m) }
	if err := Await(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"in", "retry"}, {"retry"}, {"retry"}}; !slices.EqualFunc(seen, want, slices.Equal) {
		t.Fatalf("Waiting saw %v, want %v", seen, want)
	}
	if len(clk) != 3 {
		t.Fatalf("slept %v, want 3 waits", clk)
	}
	for i, d := range clk {
		if full := interval.Initial << i; d < full/2 || d > full {
			t.Fatalf("wait %d = %v, want in [%v, %v]", i+1, d, full/2, full)
		}
	}
	if got := strings.Count(log.String(), `level=WARN msg="waiting for topics" topics=retry next_check=`); got != 2 {
		t.Fatalf("%d WARN lines for retry, want 2: %s", got, log.String())
	}
}

func TestAwaitGivesUpQuietlyWhenCtxEndsOrMetadataFails(t *testing.T) {
	var log bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := check(&log, &sleeps{}, func([]string) ([]string, error) { return []string{"in"}, nil })
	c.Wait = true
	if err := Await(ctx, c); err != nil {
		t.Fatalf("ended ctx: %v, want nil", err)
	}
	c.Missing = func([]string) ([]string, error) { return nil, errors.New("no broker") }
	if err := Await(context.Background(), c); err != nil {
		t.Fatalf("failed metadata: %v, want nil", err)
	}
	if !strings.Contains(log.String(), `level=WARN msg="cannot check" error="no broker"`) {
		t.Fatalf("log: %s", log.String())
	}
}
