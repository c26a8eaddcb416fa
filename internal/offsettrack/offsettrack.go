// Package offsettrack tracks which records of one partition have finished,
// so that a consumer commits only offsets below which everything is done,
// even when records finish out of order (key-ordered concurrency).
package offsettrack

import "sync"

// Partition tracks the records of one partition in the order they were
// read. Offsets must be added in increasing order; gaps (compaction,
// transaction markers) are allowed. It is safe for concurrent use.
type Partition struct {
	mu sync.Mutex
	// offsets[head:] are the offsets added and not yet released, in order;
	// done says which of them finished.
	offsets []int64
	done    []bool
	head    int
	// next is the offset to commit when nothing is pending: one past the
	// last offset added (or the initial offset).
	next int64
	// pending counts added offsets not yet done.
	pending int
}

// New returns a tracker for a partition whose consumption starts at
// initial (the offset that would be committed before anything finishes).
func New(initial int64) *Partition { return &Partition{next: initial} }

// Add records that offset was read and is now in flight.
func (p *Partition) Add(offset int64) {
	p.mu.Lock()
	p.offsets = append(p.offsets, offset)
	p.done = append(p.done, false)
	p.next = offset + 1
	p.pending++
	p.mu.Unlock()
}

// AddAll is Add for several offsets, in increasing order, under one lock.
func (p *Partition) AddAll(offsets []int64) {
	if len(offsets) == 0 {
		return
	}
	p.mu.Lock()
	p.offsets = append(p.offsets, offsets...)
	for range offsets {
		p.done = append(p.done, false)
	}
	p.next = offsets[len(offsets)-1] + 1
	p.pending += len(offsets)
	p.mu.Unlock()
}

// Done marks offset finished. It reports false if offset is not in flight
// (never added, or already done).
func (p *Partition) Done(offset int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.head // records mostly finish in order: try the oldest first
	if i >= len(p.offsets) || p.offsets[i] != offset {
		i = p.find(offset)
	}
	if i < 0 || p.done[i] {
		return false
	}
	p.done[i] = true
	p.pending--
	for p.head < len(p.offsets) && p.done[p.head] {
		p.head++
	}
	// Compact once the released prefix dominates, so memory follows the
	// number in flight, not the number ever read.
	if p.head == len(p.offsets) {
		p.offsets, p.done, p.head = p.offsets[:0], p.done[:0], 0
	} else if p.head > 1024 && p.head*2 > len(p.offsets) {
		n := copy(p.offsets, p.offsets[p.head:])
		copy(p.done, p.done[p.head:])
		p.offsets, p.done, p.head = p.offsets[:n], p.done[:n], 0
	}
	return true
}

// find returns the index of offset among the pending entries, or -1.
// Offsets are sorted, so this is a binary search.
func (p *Partition) find(offset int64) int {
	lo, hi := p.head, len(p.offsets)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p.offsets[mid] < offset {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(p.offsets) && p.offsets[lo] == offset {
		return lo
	}
	return -1
}

// Idle returns the offset after the last one added (or the initial
// offset), and whether every offset added has finished.
func (p *Partition) Idle() (next int64, idle bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next, p.head == len(p.offsets)
}

// SkipTo records that the offsets from the last one added up to (not
// including) to hold nothing to handle (transaction markers, aborted
// records): once everything added has finished, to is committable. An
// offset added later must be at least to. It does nothing when to is not
// past what was added.
func (p *Partition) SkipTo(to int64) {
	p.mu.Lock()
	if to > p.next {
		p.next = to
	}
	p.mu.Unlock()
}

// Committable returns the offset to commit: the oldest unfinished offset,
// or one past the last added offset when all have finished.
func (p *Partition) Committable() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head < len(p.offsets) {
		return p.offsets[p.head]
	}
	return p.next
}

// InFlight returns how many added offsets have not finished.
func (p *Partition) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}
