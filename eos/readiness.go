package eos

import (
	"sync"
	"sync/atomic"

	"github.com/bulwarkgo/bulwark"
)

// State is what a member reports for a health check.
//
// A partition of a session has caught up once the session committed, in
// a transaction, everything up to where the partition ended at the
// assignment (or past the transaction markers there).
type State = bulwark.MemberState

// readiness is what State reports; the loop of the current generation
// counts the caught-up partitions.
type readiness struct {
	joined     atomic.Bool
	partitions atomic.Int32
	caughtUp   atomic.Int32
	ready      chan struct{}
	once       sync.Once
}

// Ready is closed the first time the session is caught up
// ([State].CaughtUp): a startup probe can wait for it. It stays closed,
// also across Run calls; use [Session.State] for what holds now. Each
// rebalance starts a generation whose partitions must catch up again in
// State, not in Ready.
func (s *Session) Ready() <-chan struct{} { return s.readiness.ready }

// State returns the session's state now; safe at any time.
func (s *Session) State() State {
	st := State{
		Joined:             s.readiness.joined.Load(),
		Partitions:         int(s.readiness.partitions.Load()),
		CaughtUpPartitions: int(s.readiness.caughtUp.Load()),
	}
	st.CaughtUp = st.Joined && st.CaughtUpPartitions >= st.Partitions
	return st
}

func (r *readiness) assigned(n int) {
	r.caughtUp.Store(0)
	r.partitions.Store(int32(n))
	r.joined.Store(true)
	if n == 0 {
		r.once.Do(func() { close(r.ready) })
	}
}

func (r *readiness) released() {
	r.joined.Store(false)
	r.partitions.Store(0)
	r.caughtUp.Store(0)
}

// updateCaughtUp counts the generation's partitions that have caught up;
// on the loop's goroutine, after commits and at each marker tick.
func (l *txnLoop) updateCaughtUp() {
	n := 0
	for _, tp := range l.gen.Claims {
		pm := l.marks.parts[tp]
		if !pm.caughtUp {
			target, known := l.gen.CatchUp[tp]
			if !known {
				// The lookup failed: the high watermark of the last fetch,
				// once there was one with records.
				if target = l.gen.HighWaterMark(tp); target <= 0 {
					continue
				}
			}
			pm.caughtUp = pm.committed >= target
		}
		if pm.caughtUp {
			n++
		}
	}
	r := &l.s.readiness
	r.caughtUp.Store(int32(n))
	if n == len(l.gen.Claims) {
		r.once.Do(func() { close(r.ready) })
	}
}
