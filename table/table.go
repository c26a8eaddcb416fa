package table

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Table is a key -> value view of a compacted topic, restored from the
// topic when opened and kept up to date as records arrive. Its methods are
// safe for concurrent use.
//
// Goroutines: Open starts one per partition ([Table.follow]), which owns
// that partition's reader and is the only writer of its progress; all of
// them write entries under mu. Close cancels them, cuts the connections and
// waits for them.
type Table struct {
	topic  string
	cfg    config
	reader *saramax.Reader

	mu      sync.RWMutex
	entries map[string]entry

	parts    []*partition
	pending  atomic.Int32  // partitions not restored yet
	ready    chan struct{} // closed when pending reaches 0
	closed   chan struct{} // closed by Close
	decodeEr atomic.Int64
	skipped  atomic.Int64

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// entry is what the table keeps per live key, beside the key itself. The
// value is a copy: sarama's records share their bytes with the whole fetch
// response, which a kept slice would keep alive.
type entry struct {
	value   []byte
	decoded any // nil without a decoder; a *DecodeError when refused
}

// Open connects to the cluster at brokers and starts restoring topic, a
// compacted topic, into a table; it does not wait for the restore
// ([Table.WaitReady] does). Each partition is read from its first record,
// with read_committed isolation, up to the high watermark it has when the
// restore starts: a transaction open then holds the restore up until it
// commits or aborts (at the latest when the broker aborts it at its
// transaction timeout), so a restored table never lacks a record that was
// written before Open and is committed. Records after that are applied as
// they arrive, in offset order per partition.
//
// A record's key is the table key; a nil value (a tombstone) deletes it.
// Records without a key are skipped (counted in [Progress]). A key is
// expected on one partition only, as with keyed partitioning; were it on
// several, their records would be applied in no defined order.
//
// ctx bounds connecting (also bounded by the connect timeout,
// conn.WithConnectTimeout); connect failures are *conn.ConnectError
// values, and one caused by ctx also matches ctx's error. A missing topic
// fails with [ErrUnknownTopic], bad arguments or options with
// [ErrInvalidConfig]. The table outlives ctx; Close it.
func Open(ctx context.Context, brokers []string, topic string, opts ...Option) (*Table, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if topic == "" {
		return nil, invalidConfig("no topic")
	}
	if err := conn.CheckBrokers(brokers); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cs, err := conn.Build(cfg.connOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	r, err := saramax.ConnectReader(ctx, brokers, cs, saramax.ReaderConfig{ReadCommitted: true, Tweak: cfg.saramaTweak()})
	if err != nil {
		return nil, openError(err)
	}
	parts, err := r.Partitions(ctx, topic)
	if err == nil && len(parts) == 0 {
		err = fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
	}
	if err != nil {
		r.Close()
		return nil, openError(err)
	}
	if cfg.partitions != nil {
		for _, p := range cfg.partitions {
			if !slices.Contains(parts, p) {
				r.Close()
				return nil, invalidConfig("topic %s has no partition %d (it has %d)", topic, p, len(parts))
			}
		}
		parts = cfg.partitions
	}
	t := &Table{
		topic:   topic,
		cfg:     cfg,
		reader:  r,
		entries: map[string]entry{},
		ready:   make(chan struct{}),
		closed:  make(chan struct{}),
	}
	t.cfg.logger = cfg.logger.With("topic", topic)
	t.pending.Store(int32(len(parts)))
	// The partitions' goroutines live until Close: their context is not
	// Open's, which bounds only connecting.
	runCtx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	for _, p := range parts {
		ps := &partition{id: p}
		ps.end.Store(-1)
		t.parts = append(t.parts, ps)
		t.wg.Add(1)
		go t.follow(runCtx, ps)
	}
	return t, nil
}

// Get returns the value of key and whether the table has it. The slice
// is the table's: do not modify it. Before the table is ready it may
// return an older value, or none, for a key the topic has.
func (t *Table) Get(key []byte) ([]byte, bool) {
	t.mu.RLock()
	e, ok := t.entries[string(key)]
	t.mu.RUnlock()
	return e.value, ok
}

// Value returns the decoded value of key (see [WithDecoder]):
// [ErrNotFound] when the table does not have the key, a [*DecodeError]
// when its latest value could not be decoded, [ErrNoDecoder] when the
// table has no decoder.
func (t *Table) Value(key []byte) (any, error) {
	if t.cfg.decoder == nil {
		return nil, ErrNoDecoder
	}
	t.mu.RLock()
	e, ok := t.entries[string(key)]
	t.mu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	if de, bad := e.decoded.(*DecodeError); bad {
		return nil, de
	}
	return e.decoded, nil
}

// ValueOf is [Table.Value] for a decoder that produces T values (a
// *schema.StructSerde[T], say).
func ValueOf[T any](t *Table, key []byte) (T, error) {
	var zero T
	v, err := t.Value(key)
	if err != nil {
		return zero, err
	}
	tv, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("table: value of key %q is a %T, not a %T", key, v, zero)
	}
	return tv, nil
}

// Len returns the number of keys.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.entries)
}

// All iterates over the keys and values, in no particular order, as they
// were when the loop started: it copies the key and value references first
// (two slice headers per key, freed after the loop), so the loop body may
// take its time and call the table's methods. Keys are fresh copies; the
// values are the table's, not to be modified.
func (t *Table) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		type pair struct {
			key   string
			value []byte
		}
		t.mu.RLock()
		snapshot := make([]pair, 0, len(t.entries))
		for k, e := range t.entries {
			snapshot = append(snapshot, pair{k, e.value})
		}
		t.mu.RUnlock()
		for _, p := range snapshot {
			if !yield([]byte(p.key), p.value) {
				return
			}
		}
	}
}

// Ready is closed once every partition is restored (see [Open]).
func (t *Table) Ready() <-chan struct{} { return t.ready }

// WaitReady waits until the table is restored, ctx ends (its error) or the
// table is closed ([bulwark.ErrClosed]).
func (t *Table) WaitReady(ctx context.Context) error {
	select {
	case <-t.ready:
		return nil
	default:
	}
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.closed:
		return bulwark.ErrClosed
	}
}

// Close stops following the topic and disconnects. It waits for a change
// callback in progress; the connections are cut first, so nothing else
// waits for a broker, however it is doing. A closed table keeps what it
// held: Get, Value, All and Len answer from the view as Close left it.
// Later calls return nil at once.
func (t *Table) Close() error {
	t.closeOnce.Do(func() {
		close(t.closed)
		t.cancel()
		t.reader.Abort()
		t.wg.Wait()
		t.reader.Close()
	})
	return nil
}
