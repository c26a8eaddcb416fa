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

// scheduler hands a partition's records to its workers. With one worker
// records run in partition order. With more, a record waits only for an
// earlier record with the same key: a free worker takes the oldest record
// whose key is not busy, so a slow key does not hold up other keys.
type scheduler struct {
	mu     sync.Mutex
	cond   *sync.Cond
	keyed  bool
	ready  []record
	busy   map[string][]record // key -> records waiting behind the running one
	closed bool
	// pushed is signalled when a record becomes ready or the scheduler
	// closes: a batch worker lingering for more records waits on it.
	pushed chan struct{}
}

func newScheduler(keyed bool) *scheduler {
	s := &scheduler{keyed: keyed, busy: map[string][]record{}, pushed: make(chan struct{}, 1)}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *scheduler) push(rec record) {
	s.mu.Lock()
	if s.keyed && rec.msg.Key != nil {
		if waiting, ok := s.busy[string(rec.msg.Key)]; ok {
			s.busy[string(rec.msg.Key)] = append(waiting, rec)
			s.mu.Unlock()
			return
		}
		s.busy[string(rec.msg.Key)] = nil
	}
	s.ready = append(s.ready, rec)
	s.mu.Unlock()
	s.cond.Signal()
	s.signalPushed()
}

func (s *scheduler) signalPushed() {
	select {
	case s.pushed <- struct{}{}:
	default:
	}
}

// tryNext is next without blocking; closed reports that the scheduler is
// closed.
func (s *scheduler) tryNext() (rec record, ok, closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ready) == 0 {
		return record{}, false, s.closed
	}
	rec = s.ready[0]
	s.ready[0] = record{}
	s.ready = s.ready[1:]
	return rec, true, false
}

// next blocks for a record to run; ok is false once the scheduler is
// closed and nothing is ready.
func (s *scheduler) next() (rec record, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.ready) == 0 && !s.closed {
		s.cond.Wait()
	}
	if len(s.ready) == 0 {
		return record{}, false
	}
	rec = s.ready[0]
	s.ready[0] = record{}
	s.ready = s.ready[1:]
	return rec, true
}

// finished releases rec's key: the next record with that key becomes
// ready.
func (s *scheduler) finished(rec record) {
	if !s.keyed || rec.msg.Key == nil {
		return
	}
	s.mu.Lock()
	k := string(rec.msg.Key)
	waiting := s.busy[k]
	if len(waiting) == 0 {
		delete(s.busy, k)
		s.mu.Unlock()
		return
	}
	s.ready = append(s.ready, waiting[0])
	if len(waiting) == 1 {
		s.busy[k] = nil
	} else {
		s.busy[k] = waiting[1:]
	}
	s.mu.Unlock()
	s.cond.Signal()
}

// close wakes the workers; they finish what is ready (skipping it when
// draining) and exit.
func (s *scheduler) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cond.Broadcast()
	s.signalPushed()
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
	env       delivery.Env

	// hctx is the handlers' context: it outlives the session so records in
	// flight can finish within the grace period, then it is cancelled.
	hctx     context.Context
	hcancel  context.CancelFunc
	stopping atomic.Bool
	// draining stops records from starting; running counts handlers busy.
	startMu  sync.Mutex
	draining bool
	running  int
	workers  sync.WaitGroup
	progress chan struct{}

	pmu         sync.Mutex
	holding     bool          // records wait for budget
	pauses      int           // lanes inside a pause-class delay
	gate        chan struct{} // non-nil while paused by a handler; closed on lift
	fetchPaused bool

	// committed is guarded by Consumer.commitSem; committedPub mirrors it
	// for Stats.
	committed    int64
	committedPub atomic.Int64
	nextOffset   atomic.Int64
	buffered     atomic.Int64
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
	}
	if off := claim.InitialOffset(); off >= 0 {
		r.committed = off
		r.nextOffset.Store(off)
	} else {
		r.nextOffset.Store(-1)
	}
	r.committedPub.Store(r.committed)
	r.env = c.envFor(r)
	// sarama remembers a pause across reassignment; this member's runner
	// starts unpaused, so must the fetcher.
	c.g.Resume(r.topic, r.partition)
	r.sched = newScheduler(c.cfg.workers > 1)
	if c.cfg.batchHandler != nil {
		r.workers.Go(r.workBatches)
	} else {
		for range c.cfg.workers {
			r.workers.Go(r.work)
		}
	}
	return r
}

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
		for len(held) > 0 && r.c.budget.tryAcquire(held[0].size) {
			r.dispatch(held[0])
			held[0] = record{}
			held = held[1:]
		}
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
			if len(held) == 0 {
				held = held[:0]
			}
			r.buffered.Store(int64(len(held)))
			if h := len(held) > 0; h != holding {
				holding = h
				r.setHolding(h)
			}
		}
		msg, size, ev := r.claim.Next(wake)
		switch ev {
		case saramagroup.Received:
			// Take what else is buffered too, so that the workers get
			// records in runs and do not sleep and wake for each one.
			for n := 0; ; n++ {
				r.nextOffset.Store(msg.Offset + 1)
				r.c.tel.consumed(msg)
				held = append(held, record{msg: msg, size: size})
				var ok bool
				if n == drainMax {
					break
				}
				if msg, size, ok = r.claim.TryNext(); !ok {
					break
				}
			}
		case saramagroup.Closed:
			r.buffered.Store(0)
			return
		}
	}
}

func (r *partitionRunner) dispatch(rec record) {
	r.tracker.Add(rec.msg.Offset)
	r.sched.push(rec)
}

func (r *partitionRunner) work() {
	for {
		rec, ok := r.sched.next()
		if !ok {
			return
		}
		r.process(rec)
		r.sched.finished(rec)
	}
}

// workBatches is work for a batch handler: it collects up to the batch
// size, waiting at most the linger time after the first record.
func (r *partitionRunner) workBatches() {
	max, linger := r.c.cfg.batchMax, r.c.cfg.batchLinger
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		first, ok := r.sched.next()
		if !ok {
			return
		}
		batch := []record{first}
		timer.Reset(linger)
	collect:
		for len(batch) < max {
			rec, ok, closed := r.sched.tryNext()
			switch {
			case ok:
				batch = append(batch, rec)
				continue
			case closed:
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
	defer func() {
		for _, rec := range batch {
			r.c.budget.release(rec.size)
		}
	}()
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

func (r *partitionRunner) process(rec record) {
	defer r.c.budget.release(rec.size)
	if r.waitGate() != nil || !r.begin() {
		return // not started: stays uncommitted, delivered again
	}
	out := r.c.deliver(r.hctx, rec.msg, r.env)
	if out.Finished() {
		r.tracker.Done(rec.msg.Offset)
	}
	r.end()
}

func (r *partitionRunner) begin() bool {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if r.draining {
		return false
	}
	r.running++
	return true
}

func (r *partitionRunner) end() {
	r.startMu.Lock()
	r.running--
	r.startMu.Unlock()
	select {
	case r.progress <- struct{}{}:
	default:
	}
}

func (r *partitionRunner) busy() int {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	return r.running
}

// drain stops records from starting (those not started stay uncommitted
// and go to the partition's next owner) and gives the ones running the
// grace period; after it their contexts are cancelled and what did not
// finish stays uncommitted.
func (r *partitionRunner) drain() {
	r.startMu.Lock()
	r.draining = true
	r.startMu.Unlock()
	grace := time.NewTimer(r.c.cfg.grace)
	defer grace.Stop()
wait:
	for r.busy() > 0 {
		select {
		case <-r.progress:
		case <-grace.C:
			break wait
		}
	}
	r.stopping.Store(true)
	r.hcancel()
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
		r.gate = make(chan struct{})
	}
	r.updateFetchLocked()
}

func (r *partitionRunner) pauseEnd() {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	r.pauses--
	if r.pauses == 0 {
		close(r.gate)
		r.gate = nil
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
	r.pmu.Lock()
	g := r.gate
	r.pmu.Unlock()
	if g == nil {
		return nil
	}
	select {
	case <-g:
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
