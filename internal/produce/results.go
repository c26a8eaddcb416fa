package produce

// Goroutines: the results goroutine, started by New and ended by Close
// (close, after which it drains what is queued and exits; Close waits),
// is the only one that runs callbacks. Senders, the router and Close push
// settled batches under rs.mu, which is never held while a callback runs,
// so a slow callback delays other callbacks but never a sender.

import "sync"

type results struct {
	e      *Engine
	mu     sync.Mutex
	queue  []*batch
	spare  []*batch
	wake   chan struct{}
	closed bool
	exited chan struct{}
}

func newResults(e *Engine) *results {
	rs := &results{e: e, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	go rs.run()
	return rs
}

// push queues settled batches, in the order their callbacks must run.
func (rs *results) push(bs ...*batch) {
	if len(bs) == 0 {
		return
	}
	rs.mu.Lock()
	rs.queue = append(rs.queue, bs...)
	rs.mu.Unlock()
	select {
	case rs.wake <- struct{}{}:
	default:
	}
}

// close makes the goroutine exit once the queue is empty, and waits.
func (rs *results) close() {
	rs.mu.Lock()
	rs.closed = true
	rs.mu.Unlock()
	select {
	case rs.wake <- struct{}{}:
	default:
	}
	<-rs.exited
}

func (rs *results) run() {
	defer close(rs.exited)
	for range rs.wake {
		for {
			rs.mu.Lock()
			if len(rs.queue) == 0 {
				closed := rs.closed
				rs.mu.Unlock()
				if closed {
					return
				}
				break
			}
			// Swap buffers: pushers fill one while callbacks run on the other.
			work := rs.queue
			rs.queue = rs.spare[:0]
			rs.mu.Unlock()
			for i, b := range work {
				rs.settle(b)
				work[i] = nil
			}
			rs.spare = work[:0]
		}
	}
}

func (rs *results) settle(b *batch) {
	n := len(b.cbs)
	id := b.p.id
	for i, cb := range b.cbs {
		if b.err != nil {
			cb.Delivered(id, -1, b.err)
		} else {
			off := int64(-1)
			if b.offset >= 0 {
				off = b.offset + int64(i)
			}
			cb.Delivered(id, off, nil)
		}
	}
	err := b.err
	b.release()
	rs.e.mu.Lock()
	if err != nil && rs.e.txn != nil {
		rs.e.txn.recordFailedLocked(err)
	}
	rs.e.settleLocked(n)
	rs.e.mu.Unlock()
}
