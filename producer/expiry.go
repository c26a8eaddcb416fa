package producer

import (
	"sync"
	"sync/atomic"
	"time"
)

// expiry fails records the engine has not settled within the delivery
// timeout. The engine expires a batch only between requests: one in
// flight to a broker that holds it settles when the answer comes or the
// connection's read timeout passes, so without this a record could settle
// long after the delivery timeout. (Expiring in-flight batches in the
// engine itself, which keeps their sequences until answered, would make
// this list redundant; until then it is the one bound users see.)
//
// Every record gets the same timeout, so keeping records in the order of
// their start makes the list's head the next to expire, and one goroutine
// finds them. Time is a tick count, not time.Now per record: reading the
// clock would cost more than the rest of a send. A record expires between
// one and two ticks after the delivery timeout, never before.
type expiry struct {
	mu         sync.Mutex
	head, tail *record

	now   atomic.Int64  // ticks so far; frozen while nothing is watched
	tick  time.Duration // about a twentieth of the delivery timeout
	ticks int64         // ticks from a record's start to its expiry
	wake  chan struct{} // the list stopped being empty, or a sender waits

	// Senders waiting for room in the client watch the clock too: beat
	// closes at every tick (and is replaced), and while waiting > 0 the
	// clock runs even with the list empty (the records filling the client
	// may all have expired already).
	beat    atomic.Pointer[chan struct{}]
	waiting atomic.Int32
}

// Record states: a record settles once, by the client or by expiry,
// whichever comes first.
const (
	recordPending uint32 = iota
	recordSettled
)

func newExpiry(timeout time.Duration) *expiry {
	tick := min(max(timeout/20, time.Millisecond), 500*time.Millisecond)
	// +1 as a record's start may be up to a tick later than its stamp.
	ticks := int64((timeout+tick-1)/tick) + 1
	e := &expiry{tick: tick, ticks: ticks, wake: make(chan struct{}, 1)}
	beat := make(chan struct{})
	e.beat.Store(&beat)
	return e
}

// nudge starts the clock if it is stopped.
func (e *expiry) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// pulse wakes the senders waiting for the clock.
func (e *expiry) pulse() {
	next := make(chan struct{})
	close(*e.beat.Swap(&next))
}

// waitingSender counts a sender waiting for room in the client.
func (e *expiry) waitingSender(on bool) {
	if on {
		e.waiting.Add(1)
		e.nudge()
		return
	}
	e.waiting.Add(-1)
}

// passed reports whether a record stamped stamp is due; if not, the
// channel closes at the next tick.
func (e *expiry) passed(stamp int64) (bool, <-chan struct{}) {
	beat := *e.beat.Load()
	return stamp+e.ticks <= e.now.Load(), beat
}

// stamp is what a record starting now records as its start.
func (e *expiry) stamp() int64 { return e.now.Load() }

// add watches r, which started at stamp, unless it has settled already.
func (e *expiry) add(r *record, stamp int64) {
	e.mu.Lock()
	if r.state.Load() != recordPending {
		e.mu.Unlock()
		return
	}
	r.started = stamp
	r.linked = true
	// Senders racing may add slightly out of stamp order: walk back from
	// the tail (usually zero steps) to keep the list sorted.
	after := e.tail
	for after != nil && after.started > stamp {
		after = after.prev
	}
	r.prev = after
	if after == nil {
		r.next = e.head
		e.head = r
	} else {
		r.next = after.next
		after.next = r
	}
	if r.next == nil {
		e.tail = r
	} else {
		r.next.prev = r
	}
	wasEmpty := e.head == r && r.next == nil
	e.mu.Unlock()
	if wasEmpty {
		e.nudge()
	}
}

// remove stops watching r (the client settled it).
func (e *expiry) remove(r *record) {
	e.mu.Lock()
	e.unlink(r)
	e.mu.Unlock()
}

func (e *expiry) unlink(r *record) {
	if !r.linked {
		return
	}
	if r.prev == nil {
		e.head = r.next
	} else {
		r.prev.next = r.next
	}
	if r.next == nil {
		e.tail = r.prev
	} else {
		r.next.prev = r.prev
	}
	r.prev, r.next, r.linked = nil, nil, false
}

// due takes the records that have expired by tick now and marks them
// settled; the caller reports them. empty says whether any are left.
func (e *expiry) due(now int64, into []*record) (expired []*record, empty bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for r := e.head; r != nil && r.started+e.ticks <= now; r = e.head {
		e.unlink(r)
		if r.state.CompareAndSwap(recordPending, recordSettled) {
			into = append(into, r)
		}
	}
	return into, e.head == nil
}

// run expires records until done closes; the clock only ticks while
// records are watched or senders wait, so an idle producer costs nothing.
func (e *expiry) run(done <-chan struct{}, expire func(*record)) {
	ticker := time.NewTicker(e.tick)
	ticker.Stop()
	var batch []*record
	for {
		select {
		case <-e.wake:
			ticker.Reset(e.tick)
		case <-done:
			return
		}
		for active := true; active; {
			select {
			case <-ticker.C:
			case <-done:
				ticker.Stop()
				return
			}
			var empty bool
			batch, empty = e.due(e.now.Add(1), batch[:0])
			e.pulse()
			for i, r := range batch {
				expire(r)
				batch[i] = nil
			}
			active = !empty || e.waiting.Load() > 0
		}
		ticker.Stop()
	}
}
