package consumer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer/internal/delivery"
	"github.com/bulwarkgo/bulwark/internal/offsettrack"
	"github.com/bulwarkgo/bulwark/internal/saramagroup"
)

// record is a consumed record with its size for the in-flight budget.
type record struct {
	msg  *bulwark.Message
	size int
}

// partitionRunner owns one assigned partition: it takes records from the
// claim within the in-flight budget, hands them to lanes, tracks which
// finished, and pauses fetching when it holds records it cannot start or a
// handler asked for a pause.
type partitionRunner struct {
	c         *Consumer
	sess      *saramagroup.Session
	claim     *saramagroup.Claim
	topic     string
	partition int32
	tracker   *offsettrack.Partition
	sched     *scheduler
	env       *delivery.Env
	offsets   []int64 // dispatch's scratch space (run's goroutine only)

	// hctx is the handlers' context: it outlives the session so records in
	// flight can finish within the grace period, then it is cancelled.
	hctx     context.Context
	hcancel  context.CancelFunc
	stopping atomic.Bool
	// draining stops records from starting; running counts handlers busy.
	// Atomics, not a lock: begin and end run for every record. begin adds
	// to running before it reads draining and drain sets draining before
	// it reads running, so a record either starts and is waited for, or
	// does not start.
	draining atomic.Bool
	running  atomic.Int32
	workers  sync.WaitGroup
	progress chan struct{}
	// drainOnce starts the drain (by run's goroutine, or by a watcher that
	// saw the claim close while run's goroutine was in a handler);
	// graceOver closes when the grace period ends.
	drainOnce  sync.Once
	graceTimer *time.Timer
	graceOver  chan struct{}
	graceOnce  sync.Once

	inlineState // inline.go

	fetchGate // fetchgate.go

	// committed and markers are guarded by Consumer.commitSem;
	// committedPub mirrors committed for Stats.
	committed    int64
	markers      markerState // markers.go
	committedPub atomic.Int64
	// nextOffset is the offset after the last record taken, or past the
	// transaction markers after it (markers.go).
	nextOffset atomic.Int64
	buffered   atomic.Int64
	// released is set once the runner drained and waits for its final
	// commit, which may go out with other released partitions'.
	released atomic.Bool
	// caughtUp is set once the partition was caught up (readiness.go);
	// target (-1: not looked up) and start are where it ended and where
	// consumption started, used by the commit loop's goroutine only.
	caughtUp      atomic.Bool
	target, start int64
	// startAt is the WithStartAt position while records before it may
	// still come (0: none); run's goroutine only (startat.go).
	startAt int64
}

func newPartitionRunner(c *Consumer, sess *saramagroup.Session, claim *saramagroup.Claim) *partitionRunner {
	hctx, hcancel := context.WithCancel(context.Background())
	r := &partitionRunner{
		c:         c,
		sess:      sess,
		claim:     claim,
		topic:     claim.Topic(),
		partition: claim.Partition(),
		tracker:   offsettrack.New(claim.InitialOffset()),
		hctx:      hctx,
		hcancel:   hcancel,
		progress:  make(chan struct{}, 1),
		committed: -1,
		markers:   newMarkerState(),
		target:    -1,
	}
	if off := claim.InitialOffset(); off >= 0 {
		r.committed = off
		r.nextOffset.Store(off)
	} else {
		r.nextOffset.Store(-1)
	}
	r.committedPub.Store(r.committed)
	r.hctx = context.WithValue(r.hctx, runnerKey{}, r)
	r.env = c.envFor(r)
	// sarama remembers a pause across reassignment; this member's runner
	// starts unpaused, so must the fetcher.
	c.g.Resume(r.topic, r.partition)
	r.sched = newScheduler(c.cfg.workers)
	r.graceOver = make(chan struct{})
	r.reclaim = make(chan struct{}, 1)
	switch {
	case c.cfg.batchHandler != nil:
		r.workers.Go(r.workBatches)
	case c.cfg.workers == 1:
		r.inline = true // run's goroutine handles the records (inline.go)
	default:
		for range c.cfg.workers {
			r.workers.Go(r.work)
		}
	}
	return r
}

// releaseChunk is how many finished records a worker returns to the
// budget at once.
const releaseChunk = 32

// drainMax bounds the records run takes from the claim in one go.
const drainMax = 256

// run takes records until the claim closes. Records that cannot get
// in-flight budget are held (they are already fetched) and fetching
// pauses, so what is held is bounded by one fetch; Next keeps being called
// while holding so a revoke is noticed at once.
func (r *partitionRunner) run() {
	wake := make(chan struct{}, 1)
	defer r.c.budget.unwait(wake)
	var held []record
	holding := false
	admit := func() {
		n := r.c.budget.acquireRun(held)
		if n == 0 {
			return
		}
		// Inline, dispatch returns only once the run is handled: what
		// waits meanwhile is the rest of held.
		r.buffered.Store(int64(len(held) - n))
		r.dispatch(held[:n])
		// Move what is left to the front rather than reslicing past the
		// admitted records: held keeps its array, instead of shrinking to
		// nothing and being allocated again by the next read.
		rest := copy(held, held[n:])
		clear(held[rest:])
		held = held[:rest]
	}
	for {
		if len(held) > 0 {
			admit()
			if len(held) > 0 {
				// Register, then try again, so a release in between is
				// not missed.
				r.c.budget.wait(wake)
				admit()
				if len(held) == 0 {
					r.c.budget.unwait(wake)
				}
			}
		}
		r.buffered.Store(int64(len(held)))
		if h := len(held) > 0; h != holding {
			holding = h
			r.setHolding(h)
		}
		var closed bool
		if held, closed = r.read(held, wake, &holding); closed {
			r.buffered.Store(0)
			return
		}
	}
}

// read waits for records (or a wake-up on wake) and appends them, with
// whatever else is buffered, to held; closed reports the end of the
// claim. Records a watcher took meanwhile come first. holding is set when
// the watcher paused fetching, so run lifts the pause once held drains.
func (r *partitionRunner) read(held []record, wake <-chan struct{}, holding *bool) (out []record, closed bool) {
	r.takeReading()
	defer r.readMu.Unlock()
	defer func() { out = r.dropBeforeStart(out) }()
	if len(r.stash) > 0 || r.stashClosed {
		held = append(held, r.stash...)
		clear(r.stash)
		r.stash = r.stash[:0]
		r.stashed.Store(0)
		if r.stashPaused {
			r.stashPaused = false
			*holding = true
		}
		return held, r.stashClosed
	}
	msg, size, ev := r.claim.Next(wake)
	switch ev {
	case saramagroup.Received:
		// Take what else is buffered too, so that the records are handled
		// in runs, without a sleep and wake-up for each one.
		n := 0
		for {
			held = append(held, record{msg: msg, size: size})
			n++
			var ok bool
			if n > drainMax {
				break
			}
			if msg, size, ok = r.claim.TryNext(); !ok {
				break
			}
		}
		r.nextOffset.Store(held[len(held)-1].msg.Offset + 1)
		r.c.tel.consumed(r.topic, n)
	case saramagroup.Closed:
		return held, true
	}
	return held, false
}

// dispatch tracks a run of records admitted to the budget and hands it to
// the workers.
func (r *partitionRunner) dispatch(run []record) {
	r.offsets = r.offsets[:0]
	for _, rec := range run {
		r.offsets = append(r.offsets, rec.msg.Offset)
	}
	r.tracker.AddAll(r.offsets)
	if r.inline {
		r.handleInline(run)
		return
	}
	r.sched.pushAll(run)
}

// work runs records for key-ordered concurrency (one worker handles its
// records inline, see inline.go).
func (r *partitionRunner) work() {
	for {
		rec, ok := r.sched.next()
		if !ok {
			return
		}
		one := []record{rec}
		r.processChunk(one)
		r.c.budget.releaseAll(one)
		r.sched.finished(rec)
	}
}

// workBatches is work for a batch handler: it collects up to the batch
// size (and bytes), waiting at most the linger time after the first
// record.
func (r *partitionRunner) workBatches() {
	maxRecords, linger, maxBytes := r.c.cfg.batchMax, r.c.cfg.batchLinger, r.c.cfg.batchBytes
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		first, ok := r.sched.next()
		if !ok {
			return
		}
		batch := []record{first}
		room := int64(-1) // bytes the batch may still take; -1: no byte bound
		if maxBytes > 0 {
			room = max(maxBytes-int64(first.size), 0)
		}
		timer.Reset(linger)
	collect:
		for len(batch) < maxRecords {
			rec, ok, closed, full := r.sched.tryNext(room)
			switch {
			case ok:
				batch = append(batch, rec)
				if maxBytes > 0 {
					room -= int64(rec.size)
				}
				continue
			case closed, full:
				break collect
			}
			select {
			case <-r.sched.pushed:
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		r.processBatch(batch)
	}
}

func (r *partitionRunner) processBatch(batch []record) {
	defer r.c.budget.releaseAll(batch)
	if r.waitGate() != nil || !r.begin() {
		return // not started: stays uncommitted, delivered again
	}
	msgs := make([]*bulwark.Message, len(batch))
	for i, rec := range batch {
		msgs[i] = rec.msg
	}
	for i, out := range r.c.deliverBatch(r.hctx, msgs, r.env) {
		if out.Finished() {
			r.tracker.Done(msgs[i].Offset)
		}
	}
	r.end()
}

// processChunk runs records in order (a key-ordered worker passes one at a
// time). The chunk counts as running once, not per record: begin and end
// are atomic writes, which cost about as much as a no-op handler. Draining
// still stops the records not yet started, and a record waiting at the
// pause gate does not count as running, so drain does not wait for it. Its
// caller returns the chunk's budget.
func (r *partitionRunner) processChunk(chunk []record) {
	running := false
	handled := 0
	defer func() { r.c.counts.addHandled(handled) }()
	r.chunks.Add(1) // progress, for the watchdog (inline.go)
	// Asking whether the handler-duration histogram is enabled costs about
	// as much as a no-op handler: once per chunk, not per record.
	h := r.c.handler
	if !r.c.tel.handlerHist.Enabled(r.hctx) {
		h = r.c.untimed
	}
	for _, rec := range chunk {
		if running && r.gate.Load() != nil {
			r.end()
			running = false
		}
		if !running {
			if r.waitGate() != nil || !r.begin() {
				return // not started: stays uncommitted, delivered again
			}
			running = true
		} else if r.draining.Load() {
			break
		}
		res := r.c.deliver(r.hctx, h, rec.msg, r.env)
		if res != delivery.Abandoned {
			r.tracker.Done(rec.msg.Offset)
		}
		if res == delivery.Handled {
			handled++
		}
	}
	if running {
		r.end()
	}
}

func (r *partitionRunner) begin() bool {
	r.running.Add(1)
	if r.draining.Load() {
		r.end()
		return false
	}
	return true
}

func (r *partitionRunner) end() {
	// Only drain waits for progress, and only for running to reach zero.
	if r.running.Add(-1) == 0 && r.draining.Load() {
		select {
		case r.progress <- struct{}{}:
		default:
		}
	}
}

func (r *partitionRunner) busy() int { return int(r.running.Load()) }

// beginDrain stops records from starting (those not started stay
// uncommitted and go to the partition's next owner) and starts the grace
// period of the ones running; after it their contexts are cancelled. It
// runs once, from drain or from a watcher that saw the claim close.
func (r *partitionRunner) beginDrain() {
	r.drainOnce.Do(func() {
		if f := r.c.cfg.onDrain; f != nil {
			f(r.topic, r.partition)
		}
		r.draining.Store(true)
		r.graceTimer = time.AfterFunc(r.c.cfg.grace, r.endGrace)
	})
}

// endGrace ends the grace period: handlers still running have their
// context cancelled, and what did not finish stays uncommitted.
func (r *partitionRunner) endGrace() {
	r.graceOnce.Do(func() {
		r.stopping.Store(true)
		r.hcancel()
		close(r.graceOver)
	})
}

// drain waits, within the grace period, for the records running to
// finish, then for the workers to exit.
func (r *partitionRunner) drain() {
	r.beginDrain()
wait:
	for r.busy() > 0 {
		select {
		case <-r.progress:
		case <-r.graceOver:
			break wait
		}
	}
	r.graceTimer.Stop()
	r.endGrace()
	r.sched.close()
	done := make(chan struct{})
	go func() { r.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(handlerExitWait):
		// A handler that ignores its context keeps its goroutine; its
		// record is not committed either way.
		r.c.log.Warn("handler did not return after its context was cancelled", "topic", r.topic, "partition", r.partition)
	}
	r.setHolding(false)
}
