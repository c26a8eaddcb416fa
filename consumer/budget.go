package consumer

import "sync"

// budget bounds the records and bytes in flight over the whole consumer.
// Partitions that cannot get budget register a wake channel and are woken
// when budget is released.
type budget struct {
	mu         sync.Mutex
	maxRecords int
	maxBytes   int64
	records    int
	bytes      int64
	peak       int
	waiters    map[chan struct{}]struct{}
	// Waiters are woken only once usage fell to the low-water marks (3/4
	// of the limits), so that a partition at the limit takes records in
	// runs instead of waking for every record that finishes.
	lowRecords int
	lowBytes   int64
}

func newBudget(maxRecords int, maxBytes int64) *budget {
	return &budget{maxRecords: maxRecords, maxBytes: maxBytes, waiters: map[chan struct{}]struct{}{},
		lowRecords: maxRecords - maxRecords/4, lowBytes: maxBytes - maxBytes/4}
}

// acquireRun takes budget for the longest prefix of recs that fits, under
// one lock (the budget is shared by every partition), and returns its
// length. A record larger than the byte limit gets through when nothing
// else is in flight, so it cannot block its partition forever.
func (b *budget) acquireRun(recs []record) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, rec := range recs {
		if b.records >= b.maxRecords || (b.records > 0 && b.bytes+int64(rec.size) > b.maxBytes) {
			break
		}
		b.records++
		b.bytes += int64(rec.size)
		n++
	}
	if b.records > b.peak {
		b.peak = b.records
	}
	return n
}

// releaseAll returns the budget of recs.
func (b *budget) releaseAll(recs []record) {
	if len(recs) == 0 {
		return
	}
	var bytes int64
	for _, rec := range recs {
		bytes += int64(rec.size)
	}
	b.mu.Lock()
	b.records -= len(recs)
	b.bytes -= bytes
	if b.records > 0 && (b.records > b.lowRecords || b.bytes > b.lowBytes) {
		b.mu.Unlock()
		return
	}
	for ch := range b.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
}

// wait registers ch to be signalled on a release that brings usage to the
// low-water marks (or to nothing in flight).
func (b *budget) wait(ch chan struct{}) {
	b.mu.Lock()
	b.waiters[ch] = struct{}{}
	b.mu.Unlock()
}

func (b *budget) unwait(ch chan struct{}) {
	b.mu.Lock()
	delete(b.waiters, ch)
	b.mu.Unlock()
}

func (b *budget) usage() (records int, bytes int64, peak int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.records, b.bytes, b.peak
}
