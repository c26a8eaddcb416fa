package dedup

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// maxOwed bounds the outcomes a Deduplicator remembers; the oldest goes
// first. An evicted outcome costs what it cost before outcomes were
// remembered: a confirm is lost (the record is processed again once its
// lease expires) or a release is (the key waits for its lease to expire).
const maxOwed = 4096

// owed remembers the outcomes a Deduplicator could not record because the
// store was down: the confirm of a handler that succeeded, or the release
// of one that failed, with the token of the claim. The redelivery of the
// record (the consumer's retry after its pause, in this process) records
// that outcome first instead of claiming again: a confirm owed means the
// side effect happened and the handler must not run again; a release owed
// frees the key the failed run still leases, which a new claim would
// otherwise find busy until the lease expires.
type owed struct {
	n     atomic.Int64 // entries, read without the lock on every record
	mu    sync.Mutex
	byKey map[string]*list.Element // of *owedEntry
	order list.List                // oldest first
}

type owedEntry struct {
	key     string
	token   Token
	confirm bool // true: the confirm is owed; false: the release
}

// get returns the outcome owed for key, if any.
func (o *owed) get(key string) (owedEntry, bool) {
	if o.n.Load() == 0 { // the common case: the store has been up
		return owedEntry{}, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if el, ok := o.byKey[key]; ok {
		return *el.Value.(*owedEntry), true
	}
	return owedEntry{}, false
}

// put remembers e, replacing what was owed for its key.
func (o *owed) put(e owedEntry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byKey == nil {
		o.byKey = make(map[string]*list.Element)
	}
	if el, ok := o.byKey[e.key]; ok {
		o.order.Remove(el)
	} else if len(o.byKey) >= maxOwed {
		oldest := o.order.Front()
		delete(o.byKey, oldest.Value.(*owedEntry).key)
		o.order.Remove(oldest)
	}
	o.byKey[e.key] = o.order.PushBack(&e)
	o.n.Store(int64(len(o.byKey)))
}

// settle forgets what was owed for key under token (and nothing newer).
func (o *owed) settle(key string, token Token) {
	if o.n.Load() == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if el, ok := o.byKey[key]; ok && el.Value.(*owedEntry).token == token {
		delete(o.byKey, key)
		o.order.Remove(el)
		o.n.Store(int64(len(o.byKey)))
	}
}
