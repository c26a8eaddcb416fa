package consumer

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark/internal/saramagroup"
)

// With one worker and no batch handler, run's goroutine handles the
// records itself instead of handing them to a worker goroutine: the
// hand-off costs about as much as a no-op handler. While it is inside a
// handler, though, nobody reads the claim, so a revoke or the end of the
// session would go unnoticed until the handler returns, and the grace
// period would not bound it. The watchdog (one goroutine per consumer)
// therefore starts a watcher for a partition whose handling has made no
// progress for a tick: the watcher reads the claim in run's place, keeps
// the records it reads for run (in order, after run's own) and pausing
// fetching once it holds a run's worth, and on the claim's end starts the
// drain. run takes reading back, with the watcher's records, as soon as it
// returns to the claim.

// watchTick is how often the watchdog looks for partitions stuck in a
// handler: a revoke is noticed at most about two ticks late.
const watchTick = 100 * time.Millisecond

type inlineState struct {
	inline bool // run's goroutine handles the records

	// readMu is held by whoever reads the claim: run's goroutine, or a
	// watcher while run's goroutine is in a handler.
	readMu   sync.Mutex
	handling atomic.Bool   // run's goroutine is handling records
	chunks   atomic.Uint64 // chunks started, the progress the watchdog sees
	seen     uint64        // chunks at the watchdog's last look (watchdog only)
	watching atomic.Bool
	reclaim  chan struct{} // asks the watcher to hand reading back

	// What the watcher read for run; guarded by readMu.
	stash       []record
	stashed     atomic.Int64 // len(stash), for Stats
	stashClosed bool         // the claim ended
	stashPaused bool         // the watcher paused fetching
}

// handleInline handles an admitted run on run's goroutine, returning its
// budget chunk by chunk.
func (r *partitionRunner) handleInline(run []record) {
	r.handling.Store(true)
	defer r.handling.Store(false)
	for start := 0; start < len(run); start += releaseChunk {
		chunk := run[start:min(start+releaseChunk, len(run))]
		r.processChunk(chunk)
		r.c.budget.releaseAll(chunk)
	}
}

// takeReading locks readMu, first asking a watcher, if one holds it, to
// give it back. A watcher answers at once (it waits in Claim.Next, which
// the request wakes), so the wait is short; without a watcher, and always
// outside inline mode, the lock is free.
func (r *partitionRunner) takeReading() {
	for !r.readMu.TryLock() {
		select {
		case r.reclaim <- struct{}{}:
		default:
		}
		runtime.Gosched()
	}
	// A request left over would end the next watcher at once.
	select {
	case <-r.reclaim:
	default:
	}
}

// checkStuck runs on the watchdog's goroutine: it starts a watcher when
// run's goroutine has been in the same chunk since the last look.
func (r *partitionRunner) checkStuck() {
	n := r.chunks.Load()
	stuck := r.handling.Load() && n == r.seen
	r.seen = n
	if !stuck || r.watching.Load() || !r.readMu.TryLock() {
		return
	}
	if !r.handling.Load() { // back from the handler meanwhile: it reads itself
		r.readMu.Unlock()
		return
	}
	r.watching.Store(true)
	if f := r.c.cfg.onWatch; f != nil {
		f(r.topic, r.partition)
	}
	go r.watch()
}

// watch reads the claim, holding readMu, until run's goroutine asks for it
// back or the claim ends.
func (r *partitionRunner) watch() {
	defer r.readMu.Unlock()
	defer r.watching.Store(false)
	for {
		if len(r.stash) >= drainMax && !r.stashPaused {
			// Enough for run's next go: stop fetching more. What is already
			// fetched is still read, so that the claim's end is seen.
			r.stashPaused = true
			r.setHolding(true)
		}
		msg, size, ev := r.claim.Next(r.reclaim)
		switch ev {
		case saramagroup.Received:
			r.stash = append(r.stash, record{msg: msg, size: size})
			r.stashed.Add(1)
			r.nextOffset.Store(msg.Offset + 1)
			r.c.tel.consumed(r.topic, 1)
		case saramagroup.Woken:
			return
		case saramagroup.Closed:
			r.stashClosed = true
			r.beginDrain()
			return
		}
	}
}

// watchStuck is the watchdog: it checks the consumer's inline partitions
// every watchTick until ctx ends.
func (c *Consumer) watchStuck(ctx context.Context) {
	if c.cfg.batchHandler != nil || c.cfg.workers != 1 {
		return // no partition is handled inline
	}
	t := time.NewTicker(watchTick)
	defer t.Stop()
	var runners []*partitionRunner
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		runners = runners[:0]
		c.mu.Lock()
		for _, r := range c.runners {
			runners = append(runners, r)
		}
		c.mu.Unlock()
		for _, r := range runners {
			r.checkStuck()
		}
		clear(runners)
	}
}
