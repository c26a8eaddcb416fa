// Package clock is the one definition of the time bulwark's time-based
// code measures and waits on, so that tests can drive it: consumertest's
// harness and resilience's policies take a Clock (their exported Clock
// types are this one), and consumertest's fake clocks implement it.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends and then returns ctx's error.
	Sleep(ctx context.Context, d time.Duration) error
}

// Wall is the real clock.
type Wall struct{}

// Now is time.Now.
func (Wall) Now() time.Time { return time.Now() }

// Sleep waits d on a timer, or until ctx ends; with d <= 0 it returns at
// once (ctx's error if it has ended).
func (Wall) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
