package consumer

import (
	"sync"
	"sync/atomic"
)

// fetchGate is the partition's fetch pause and handler gate: fetching
// pauses while records wait for budget or a lane is inside a pause-class
// delay, and the gate holds records back from handlers during a pause.
type fetchGate struct {
	pmu     sync.Mutex
	holding bool // records wait for budget
	pauses  int  // lanes inside a pause-class delay
	// gate is non-nil while a handler has paused the partition, and closed
	// on lift. Changed under pmu; atomic so that waitGate, run for every
	// record, takes no lock.
	gate        atomic.Pointer[chan struct{}]
	fetchPaused bool
	// pauseLevels holds the log level of each pause in progress
	// (*bulwark.Message -> slog.Level), so its resumption is logged alike.
	pauseLevels sync.Map
	// blocked counts lanes waiting for a write to blockedOn (blocked.go).
	blocked    int
	blockedOn  string
	blockedErr error
}

// setHolding records whether records wait for budget; fetching pauses while
// they do.
func (r *partitionRunner) setHolding(h bool) {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	if r.holding == h {
		return
	}
	r.holding = h
	r.updateFetchLocked()
}

func (r *partitionRunner) pauseBegin() {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	r.pauses++
	if r.pauses == 1 {
		g := make(chan struct{})
		r.gate.Store(&g)
	}
	r.updateFetchLocked()
}

func (r *partitionRunner) pauseEnd() {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	r.pauses--
	if r.pauses == 0 {
		close(*r.gate.Swap(nil))
	}
	r.updateFetchLocked()
}

func (r *partitionRunner) updateFetchLocked() {
	want := r.holding || r.pauses > 0
	if want == r.fetchPaused || r.stopping.Load() && want {
		return
	}
	r.fetchPaused = want
	if want {
		r.c.g.Pause(r.topic, r.partition)
	} else {
		r.c.g.Resume(r.topic, r.partition)
	}
	if f := r.c.cfg.onFetchPause; f != nil {
		f(r.topic, r.partition, want)
	}
}

// waitGate blocks while a handler has paused the partition.
func (r *partitionRunner) waitGate() error {
	g := r.gate.Load()
	if g == nil {
		return nil
	}
	select {
	case <-*g:
		return nil
	case <-r.hctx.Done():
		return r.hctx.Err()
	}
}

func (r *partitionRunner) paused() bool {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	return r.fetchPaused
}
