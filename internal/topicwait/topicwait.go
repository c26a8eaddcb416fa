package topicwait

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
)

// MaxInterval caps the interval between checks (and WARN lines) while
// [Await] waits.
const MaxInterval = 30 * time.Second

// interval paces the checks while Await waits.
var interval = backoff.Policy{Initial: 250 * time.Millisecond, Max: MaxInterval}

// Check says which topics to look for, and how to tell what is missing.
type Check struct {
	// Missing returns those of topics the cluster does not have, in one
	// metadata request that creates nothing (saramax.MissingTopics).
	Missing func(topics []string) ([]string, error)
	// Required are the topics read: while one is missing Await fails with
	// Unknown, or with Wait waits for it.
	Required []string
	// DeadLetter topics are only warned about when missing (duplicates
	// and required topics among them are asked once).
	DeadLetter []string
	// Wait makes Await wait for missing required topics.
	Wait bool
	// Unknown is wrapped (errors.Is) by the error naming the missing
	// required topics when Wait is off.
	Unknown error
	// Waiting, if set, is given the missing required topics before each
	// wait (for the caller's Stats and gauge; the caller clears them).
	Waiting func(missing []string)
	// Log receives the WARN lines, whose messages are the caller's (they
	// name its package): CannotCheck when the metadata request failed,
	// DeadLetterMissing, and WaitingFor before each wait, with the
	// attributes "topics" and "next_check".
	Log                                        *slog.Logger
	CannotCheck, DeadLetterMissing, WaitingFor string
	// Clock waits between checks; nil is the wall clock.
	Clock clock.Clock
}

// Await returns nil once every required topic exists, when ctx ends, or
// when the metadata request fails (that is not decisive: joining then
// says what is wrong); with Wait off it returns an error wrapping
// c.Unknown that names the missing required topics.
func Await(ctx context.Context, c Check) error {
	clk := c.Clock
	if clk == nil {
		clk = clock.Wall{}
	}
	ask := slices.Clone(c.Required)
	dls := slices.Clone(c.DeadLetter)
	slices.Sort(dls)
	for _, t := range slices.Compact(dls) {
		if !slices.Contains(ask, t) {
			ask = append(ask, t)
		}
	}
	for try := 1; ; try++ {
		all, err := c.Missing(ask)
		if err != nil {
			c.Log.WarnContext(ctx, c.CannotCheck, "error", err)
			return nil
		}
		var missing, dl []string
		for _, t := range all {
			if slices.Contains(c.Required, t) {
				missing = append(missing, t)
			} else {
				dl = append(dl, t)
			}
		}
		if len(missing) == 0 {
			if len(dl) > 0 {
				c.Log.WarnContext(ctx, c.DeadLetterMissing, "topics", strings.Join(dl, ","))
			}
			return nil
		}
		if !c.Wait {
			return fmt.Errorf("%w: %s (create it, or use WithWaitForTopics to wait for it)", c.Unknown, strings.Join(missing, ", "))
		}
		if c.Waiting != nil {
			c.Waiting(missing)
		}
		wait := interval.Delay(try)
		c.Log.WarnContext(ctx, c.WaitingFor, "topics", strings.Join(missing, ","), "next_check", wait)
		if clk.Sleep(ctx, wait) != nil {
			return nil
		}
	}
}
