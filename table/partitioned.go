package table

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/backoff"
)

// Partitioned keeps one [Table] per partition of a compacted state topic
// that is co-partitioned with a consumer group's input (same partition
// count, same keyed partitioning): partition n of the input has its state
// in partition n of the state topic. It is a [bulwark.RebalanceListener]
// for consumer.WithRebalanceListener or eos.WithRebalanceListener: the
// table of a partition is opened and restored when the partition is
// assigned and closed when it is revoked or lost, so each member of the
// group holds only the state of the partitions it works on, as Kafka
// Streams' co-partitioned stores do. Its methods are safe for concurrent
// use.
//
// Goroutines: Assigned starts one per newly assigned state partition
// ([Partitioned.restore]), which opens that partition's table (retrying
// with backoff), waits until it is restored and then ends; it is the only
// writer of its slot's table, under mu. Revoked, Lost and Close cancel it
// and wait for it, then close the table.
type Partitioned struct {
	brokers []string
	topic   string
	opts    []Option
	logger  *slog.Logger

	mu     sync.Mutex
	slots  map[int32]*slot
	closed bool
}

// slot is one state partition held by the member.
type slot struct {
	owners map[bulwark.TopicPartition]struct{} // assigned input partitions mapped here
	table  *Table                              // set by restore once Open succeeded, under Partitioned.mu
	ready  chan struct{}                       // closed by restore once the table is restored
	cancel context.CancelFunc
	done   chan struct{} // closed when restore returns
}

var _ bulwark.RebalanceListener = (*Partitioned)(nil)

// Sentinels of [Partitioned.Get] and [Partitioned.For]. Both are returned
// in bulwark's pause class: a handler that returns them has its partition
// paused and the record tried again, never dead-lettered.
var (
	// ErrNotReady: the partition is assigned but its table is not restored
	// yet (Assigned's time ran out before the restore finished).
	ErrNotReady = errors.New("table: partition not restored yet")
	// ErrNotAssigned: the partition is not assigned to this member (or
	// the Partitioned is not the group's rebalance listener, or closed).
	ErrNotAssigned = errors.New("table: partition not assigned")
)

// NewPartitioned returns a Partitioned for the compacted topic at brokers,
// holding no partition yet; it does not connect. Each partition's table is
// opened as [Open] with opts and [WithPartitions] of that partition
// ([WithPartitions] itself is refused: the assignment chooses them), so
// each assigned partition has its own connection. Bad arguments or options
// fail with [ErrInvalidConfig].
func NewPartitioned(brokers []string, topic string, opts ...Option) (*Partitioned, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.partitions != nil {
		return nil, invalidConfig("WithPartitions with NewPartitioned: the assignment chooses the partitions")
	}
	if topic == "" {
		return nil, invalidConfig("no topic")
	}
	if err := conn.CheckBrokers(brokers); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if _, err := conn.Build(cfg.connOpts...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return &Partitioned{
		brokers: slices.Clone(brokers),
		topic:   topic,
		opts:    slices.Clone(opts),
		logger:  cfg.logger.With("topic", topic),
		slots:   map[int32]*slot{},
	}, nil
}

// Assigned opens the tables of the state partitions numbered as ps (of
// whatever input topic) that are not open yet, and waits until they are
// restored or ctx ends. A restore that has not finished by then goes on in
// the background, with a WARN naming the partition and how far it got:
// until it finishes, [Partitioned.Get] and [Partitioned.For] report
// [ErrNotReady] for the partition rather than block, so a handler that
// returns their error pauses that partition until its state is there.
// Opening is retried (with backoff, logged at WARN) until it succeeds or
// the partition is revoked.
func (p *Partitioned) Assigned(ctx context.Context, ps []bulwark.TopicPartition) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	var waiting []int32
	for _, tp := range ps {
		s := p.slots[tp.Partition]
		if s == nil {
			runCtx, cancel := context.WithCancel(context.Background()) // lives until the partition is dropped, not Assigned's ctx
			s = &slot{owners: map[bulwark.TopicPartition]struct{}{}, ready: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
			p.slots[tp.Partition] = s
			go p.restore(runCtx, tp.Partition, s)
		}
		s.owners[tp] = struct{}{}
		if !slices.Contains(waiting, tp.Partition) {
			waiting = append(waiting, tp.Partition)
		}
	}
	p.mu.Unlock()
	for _, n := range waiting {
		p.waitSlot(ctx, n)
	}
}

// waitSlot waits until partition n is restored, dropped or ctx ends, and
// says so at WARN in the last case.
func (p *Partitioned) waitSlot(ctx context.Context, n int32) {
	p.mu.Lock()
	s := p.slots[n]
	p.mu.Unlock()
	if s == nil {
		return
	}
	select {
	case <-s.ready:
		return
	case <-s.done:
		return // dropped meanwhile
	case <-ctx.Done():
	}
	p.mu.Lock()
	t := s.table
	p.mu.Unlock()
	args := []any{"partition", n, "cause", context.Cause(ctx)}
	if t != nil {
		if pr := t.Progress(); len(pr.Partitions) == 1 {
			args = append(args, "position", pr.Partitions[0].Position, "restore_end", pr.Partitions[0].RestoreEnd)
		}
	} else {
		args = append(args, "opened", false)
	}
	p.logger.Warn("table: state partition not restored within the assignment callback; restoring goes on, Get reports ErrNotReady until done", args...)
}

// restore opens partition n's table, retrying until it opens or ctx ends,
// and waits until it is restored.
func (p *Partitioned) restore(ctx context.Context, n int32, s *slot) {
	defer close(s.done)
	opts := append(slices.Clone(p.opts), WithPartitions(n))
	start := time.Now()
	var t *Table
	for attempt := 1; ; attempt++ {
		var err error
		t, err = Open(ctx, p.brokers, p.topic, opts...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		d := backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second}.Delay(attempt)
		p.logger.Warn("table: cannot open state partition, retrying", "partition", n, "attempt", attempt, "retry_in", d, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
	p.mu.Lock()
	s.table = t
	p.mu.Unlock()
	if t.WaitReady(ctx) == nil {
		close(s.ready)
		p.logger.Debug("table: state partition restored", "partition", n, "took", time.Since(start))
	}
}

// Revoked closes and drops the tables of the state partitions numbered as
// ps once no other assigned input partition maps to them.
func (p *Partitioned) Revoked(_ context.Context, ps []bulwark.TopicPartition) { p.drop(ps) }

// Lost is [Partitioned.Revoked]: the state is dropped all the same.
func (p *Partitioned) Lost(_ context.Context, ps []bulwark.TopicPartition) { p.drop(ps) }

func (p *Partitioned) drop(ps []bulwark.TopicPartition) {
	var gone []*slot
	p.mu.Lock()
	for _, tp := range ps {
		s := p.slots[tp.Partition]
		if s == nil {
			continue
		}
		delete(s.owners, tp)
		if len(s.owners) == 0 {
			delete(p.slots, tp.Partition)
			gone = append(gone, s)
		}
	}
	p.mu.Unlock()
	closeSlots(gone)
}

// closeSlots stops the slots' restores and closes their tables: bounded,
// since Open and WaitReady honour the cancellation and Close is bounded.
func closeSlots(ss []*slot) {
	for _, s := range ss {
		s.cancel()
	}
	for _, s := range ss {
		<-s.done
		if s.table != nil { // restore has returned: no writer left
			_ = s.table.Close()
		}
	}
}

// For returns partition n's table once it is restored: [ErrNotReady]
// while it is restoring, [ErrNotAssigned] if the partition is not
// assigned; both in bulwark's pause class. The table stays valid until the
// partition is revoked (after the handler is done with its records); do
// not close it.
func (p *Partitioned) For(n int32) (*Table, error) {
	p.mu.Lock()
	s := p.slots[n]
	p.mu.Unlock()
	if s == nil {
		return nil, bulwark.Pause(fmt.Errorf("%w: %s partition %d", ErrNotAssigned, p.topic, n), 0)
	}
	select {
	case <-s.ready:
		return s.table, nil // written before ready was closed
	default:
		return nil, bulwark.Pause(fmt.Errorf("%w: %s partition %d", ErrNotReady, p.topic, n), 0)
	}
}

// Get returns the value of key in partition n's table and whether it has
// it ([Table.Get]), or the error of [Partitioned.For].
func (p *Partitioned) Get(n int32, key []byte) ([]byte, bool, error) {
	t, err := p.For(n)
	if err != nil {
		return nil, false, err
	}
	v, ok := t.Get(key)
	return v, ok, nil
}

// Partitions returns the state partitions held now, restored or not, in
// order.
func (p *Partitioned) Partitions() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	ns := make([]int32, 0, len(p.slots))
	for n := range p.slots {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

// Close closes every table and ignores later assignments. Later calls
// return nil at once.
func (p *Partitioned) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	gone := make([]*slot, 0, len(p.slots))
	for n, s := range p.slots {
		gone = append(gone, s)
		delete(p.slots, n)
	}
	p.mu.Unlock()
	closeSlots(gone)
	return nil
}
