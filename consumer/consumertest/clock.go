package consumertest

// Goroutines: a FakeClock starts none. Sleep blocks its caller's goroutine
// on a channel of its own, which Advance (any goroutine) closes once the
// clock reaches the sleep's end; changed is closed and replaced whenever
// the set of sleepers changes, for WaitForSleepers.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark/internal/clock"
)

// Clock is the time a Harness waits on: the retry, pause and dead-letter
// backoff waits the consumer would sleep. Default: a [NewAutoClock].
type Clock = clock.Clock

// FakeClock is a [Clock] on virtual time, safe for concurrent use. Its Now
// also satisfies the clock options of package resilience
// (resilience.WithClock), so one fake clock can drive the harness's waits
// and a breaker's open delay together.
type FakeClock struct {
	mu       sync.Mutex
	now      time.Time
	auto     bool
	sleepers map[*sleeper]struct{}
	changed  chan struct{}
}

type sleeper struct {
	until time.Time
	wake  chan struct{}
}

// fakeEpoch is where fake clocks start when given the zero time: a fixed
// date, so tests print the same times on every run.
var fakeEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// NewFakeClock returns a clock at start (the zero time: 2000-01-01 UTC)
// that moves only when [FakeClock.Advance] is called: Sleep blocks until
// the clock has been advanced past its end or its context ends.
func NewFakeClock(start time.Time) *FakeClock { return newFakeClock(start, false) }

// NewAutoClock returns a clock at start (the zero time: 2000-01-01 UTC)
// whose Sleep advances it by the duration slept and returns at once: a test
// runs at full speed, and Now tells how long the consumer would have
// waited.
func NewAutoClock(start time.Time) *FakeClock { return newFakeClock(start, true) }

func newFakeClock(start time.Time, auto bool) *FakeClock {
	if start.IsZero() {
		start = fakeEpoch
	}
	return &FakeClock{now: start, auto: auto, sleepers: map[*sleeper]struct{}{}, changed: make(chan struct{})}
}

// Now returns the virtual time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and wakes the sleeps it ends. A
// negative d is a programming error and panics.
func (c *FakeClock) Advance(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("consumertest: FakeClock.Advance(%v): time does not go back", d))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for s := range c.sleepers {
		if !c.now.Before(s.until) {
			c.removeLocked(s)
			close(s.wake)
		}
	}
}

// Sleep waits until the clock reaches now+d (an auto clock gets there at
// once) or ctx ends. It returns ctx's error if ctx ended first.
func (c *FakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.auto || d <= 0 {
		if d > 0 {
			c.now = c.now.Add(d)
		}
		c.mu.Unlock()
		return nil
	}
	s := &sleeper{until: c.now.Add(d), wake: make(chan struct{})}
	c.sleepers[s] = struct{}{}
	c.notifyLocked()
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		if _, ok := c.sleepers[s]; ok {
			c.removeLocked(s)
		}
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Sleepers returns how many Sleep calls are waiting for the clock.
func (c *FakeClock) Sleepers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

// WaitForSleepers blocks until n Sleep calls are waiting for the clock, so
// that a test advances it only once the code under test sleeps; it returns
// ctx's error if ctx ends first.
func (c *FakeClock) WaitForSleepers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		got, changed := len(c.sleepers), c.changed
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("consumertest: %d of %d sleepers: %w", got, n, ctx.Err())
		}
	}
}

func (c *FakeClock) removeLocked(s *sleeper) {
	delete(c.sleepers, s)
	c.notifyLocked()
}

func (c *FakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
