package dedup

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
	"time"
)

// Memory is an in-process [Store]: bounded, with lease and retention
// expiry and least-recently-used eviction. It is split into shards, each
// with its own lock, map and LRU list, so concurrent consumers rarely
// contend.
//
// It is not durable: a restarted process forgets every key, and two
// processes do not see each other's keys. Use it for a single consumer
// process, in tests, or in front of nothing at all; use the Redis or SQL
// store to deduplicate across processes.
//
// When full, a shard evicts its least recently used entry, whatever its
// state: size the store so that it holds at least the records of one
// retention period, or an evicted confirmation lets a late duplicate
// through. Expired entries are dropped lazily, when met or evicted; there
// is no background goroutine and nothing to close.
//
// The context arguments of its methods are ignored: nothing blocks.
type Memory struct {
	shards []memShard
	mask   uint64
	seed   maphash.Seed
	base   time.Time // expiry instants are monotonic nanoseconds since base
}

type memShard struct {
	mu      sync.Mutex
	entries map[string]*memEntry
	head    *memEntry // most recently used
	tail    *memEntry // least recently used
	free    *memEntry // recycled entries, linked through next
	max     int
	seq     uint64 // token counter, unique per shard
	id      uint64
	stride  uint64
	_       [64]byte // keep neighbouring shards' locks off one cache line
}

type memEntry struct {
	key        string
	token      Token
	done       bool
	expires    int64
	prev, next *memEntry
}

type memoryConfig struct {
	maxEntries int
	shards     int
}

// MemoryOption configures [NewMemory].
type MemoryOption func(*memoryConfig)

// WithMaxEntries bounds the number of keys the memory store holds (default
// 100,000). The bound is split evenly across shards, each evicting on its
// own, so eviction is LRU per shard, not global.
func WithMaxEntries(n int) MemoryOption { return func(c *memoryConfig) { c.maxEntries = n } }

// WithShards sets the number of shards (default 64, rounded up to a power
// of two). More shards mean less lock contention and a coarser LRU.
func WithShards(n int) MemoryOption { return func(c *memoryConfig) { c.shards = n } }

// NewMemory returns an empty memory store.
func NewMemory(opts ...MemoryOption) (*Memory, error) {
	cfg := memoryConfig{maxEntries: 100_000, shards: 64}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxEntries <= 0 {
		return nil, fmt.Errorf("%w: max entries %d must be positive", ErrInvalidConfig, cfg.maxEntries)
	}
	if cfg.shards <= 0 || cfg.shards > 1<<16 {
		return nil, fmt.Errorf("%w: shards %d must be in 1..65536", ErrInvalidConfig, cfg.shards)
	}
	n := 1 << bits.Len(uint(cfg.shards-1))
	if n > cfg.maxEntries {
		// Fewer entries than shards: one shard per entry at most.
		n = 1 << (bits.Len(uint(cfg.maxEntries)) - 1)
	}
	m := &Memory{shards: make([]memShard, n), mask: uint64(n - 1), seed: maphash.MakeSeed(), base: time.Now()}
	for i := range m.shards {
		s := &m.shards[i]
		s.max = cfg.maxEntries / n
		if i < cfg.maxEntries%n {
			s.max++ // the shards hold exactly maxEntries together
		}
		s.entries = make(map[string]*memEntry, min(s.max, 4096))
		s.id = uint64(i)
		s.stride = uint64(n)
	}
	return m, nil
}

func (m *Memory) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)&m.mask]
}

func (m *Memory) now() int64 { return int64(time.Since(m.base)) }

// Claim implements [Store].
func (m *Memory) Claim(_ context.Context, key string, lease time.Duration) (Claim, error) {
	s := m.shard(key)
	now := m.now()
	s.mu.Lock()
	e := s.entries[key]
	switch {
	case e == nil:
		e = s.insert(key)
	case e.expires > now && e.done:
		s.touch(e)
		s.mu.Unlock()
		return Claim{State: Duplicate}, nil
	case e.expires > now:
		remaining := time.Duration(e.expires - now)
		s.mu.Unlock()
		return Claim{State: Busy, Remaining: remaining}, nil
	default: // expired: reuse the entry
		s.touch(e)
	}
	e.token = s.newToken()
	e.done = false
	e.expires = now + int64(lease)
	tok := e.token
	s.mu.Unlock()
	return Claim{State: Acquired, Token: tok}, nil
}

// Confirm implements [Store].
func (m *Memory) Confirm(_ context.Context, key string, token Token, ttl time.Duration) error {
	s := m.shard(key)
	now := m.now()
	s.mu.Lock()
	e := s.entries[key]
	switch {
	case e == nil:
		e = s.insert(key)
	case e.token != token && e.expires > now:
		s.mu.Unlock()
		return ErrLeaseLost
	default:
		s.touch(e)
	}
	e.token = token
	e.done = true
	e.expires = now + int64(ttl)
	s.mu.Unlock()
	return nil
}

// Release implements [Store].
func (m *Memory) Release(_ context.Context, key string, token Token) error {
	s := m.shard(key)
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[key]
	switch {
	case e == nil:
		return nil
	case e.token == token:
		if !e.done {
			s.remove(e)
		}
		return nil
	case e.expires > now:
		return ErrLeaseLost
	default: // someone else's expired entry: as good as absent
		return nil
	}
}

// Len returns the number of entries held, expired ones not yet dropped
// included.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

// newToken returns a token unique within the store: shards interleave
// their counters by shard index. Written out by hand in base 32 (shifts,
// no division): strconv took a tenth of a claim+confirm.
func (s *memShard) newToken() Token {
	s.seq++
	n := s.seq*s.stride + s.id
	var buf [13]byte // 64 bits in 5-bit digits
	i := len(buf)
	for {
		i--
		buf[i] = tokenDigits[n&31]
		if n >>= 5; n == 0 {
			break
		}
	}
	return Token(buf[i:])
}

const tokenDigits = "0123456789abcdefghijklmnopqrstuv"

// insert adds a fresh entry for key at the front, evicting the least
// recently used entry if the shard is full.
func (s *memShard) insert(key string) *memEntry {
	if len(s.entries) >= s.max && s.tail != nil {
		s.remove(s.tail)
	}
	e := s.free
	if e != nil {
		s.free = e.next
		e.next = nil
	} else {
		e = &memEntry{}
	}
	e.key = key
	s.entries[key] = e
	s.pushFront(e)
	return e
}

func (s *memShard) remove(e *memEntry) {
	delete(s.entries, e.key)
	s.unlink(e)
	*e = memEntry{next: s.free}
	s.free = e
}

func (s *memShard) touch(e *memEntry) {
	if s.head == e {
		return
	}
	s.unlink(e)
	s.pushFront(e)
}

func (s *memShard) pushFront(e *memEntry) {
	e.prev = nil
	e.next = s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
}

func (s *memShard) unlink(e *memEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}
