package consumer

import "sync"

// scheduler hands a partition's records to its workers. With one worker
// records run in partition order. With more, a record waits only for an
// earlier record with the same key: a free worker takes the oldest record
// whose key is not busy, so a slow key does not hold up other keys.
type scheduler struct {
	mu      sync.Mutex
	cond    *sync.Cond
	workers int
	ready   []record
	busy    map[string][]record // key -> records waiting behind the running one
	closed  bool
	// pushed is signalled when a record becomes ready or the scheduler
	// closes: a batch worker lingering for more records waits on it.
	pushed chan struct{}
}

func newScheduler(workers int) *scheduler {
	s := &scheduler{workers: workers, busy: map[string][]record{}, pushed: make(chan struct{}, 1)}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// keyed: with several workers, records of one key wait for each other.
func (s *scheduler) keyed() bool { return s.workers > 1 }

// pushAll hands over a run of records (in partition order) under one lock
// and with one wake-up per record that became ready, at most one per
// worker: a wake-up per record would cost more than a no-op handler.
func (s *scheduler) pushAll(recs []record) {
	s.mu.Lock()
	ready := 0
	for _, rec := range recs {
		if s.keyed() && rec.msg.Key != nil {
			if waiting, ok := s.busy[string(rec.msg.Key)]; ok {
				s.busy[string(rec.msg.Key)] = append(waiting, rec)
				continue
			}
			s.busy[string(rec.msg.Key)] = nil
		}
		s.ready = append(s.ready, rec)
		ready++
	}
	s.mu.Unlock()
	if ready == 0 {
		return
	}
	if ready >= s.workers {
		s.cond.Broadcast()
	} else {
		for range ready {
			s.cond.Signal()
		}
	}
	s.signalPushed()
}

func (s *scheduler) signalPushed() {
	select {
	case s.pushed <- struct{}{}:
	default:
	}
}

// tryNext is next without blocking, for a record of at most room bytes
// (a negative room: any size); closed reports that the scheduler is
// closed, full that the next record is larger than room.
func (s *scheduler) tryNext(room int64) (rec record, ok, closed, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ready) == 0 {
		return record{}, false, s.closed, false
	}
	if room >= 0 && int64(s.ready[0].size) > room {
		return record{}, false, false, true
	}
	rec = s.ready[0]
	s.ready[0] = record{}
	s.ready = s.ready[1:]
	return rec, true, false, false
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
	if !s.keyed() || rec.msg.Key == nil {
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
