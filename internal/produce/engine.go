package produce

// Goroutines: an Engine owns one router goroutine (router.go), one sender
// goroutine per broker that leads a partition it produced to (sender.go),
// and one results goroutine (results.go). The router and results
// goroutines start in New, senders when the router first routes a
// partition to their broker; Close stops and waits for all of them.
// Produce, Flush and Close run on the caller's goroutine. The engine lock
// (mu) guards every partition, batch and sender list; no goroutine holds
// it while it talks to a broker or runs a callback.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Engine is an idempotent producer. Its methods are safe for concurrent use.
type Engine struct {
	client     sarama.Client
	o          options
	log        *slog.Logger
	pid        int64 // pid and epoch: what new sequences count under; guarded by mu, changed by a bump (epoch.go)
	epoch      int16
	reqVersion int16

	mu       sync.Mutex
	topics   map[string]*topicState
	senders  map[int32]*sender
	toRoute  []*partition
	closed   bool
	flushing int
	pending  int           // records produced whose callbacks have not run
	idle     chan struct{} // closed when pending drops to zero; made by Flush
	space    chan struct{} // closed when pending drops below the buffer cap; made by a waiting Produce
	key      keyEncoder
	scratch  sarama.ProducerMessage

	// The KIP-360 bump (epoch.go), guarded by mu.
	bumpWanted bool      // the sequence state under pid and epoch is lost
	bumpAt     time.Time // when a failed bump may be tried again
	bumpTries  int       // failed bumps in a row

	routeWake chan struct{}
	stop      chan struct{} // closed by Close: router and senders end
	wg        sync.WaitGroup
	results   *results
	txn       *txn // nil unless WithTransactionalID (txn.go)

	closeOnce sync.Once
	closeErr  error
}

// New returns an engine producing through client, which stays the
// caller's: Close does not close it. It gets a producer ID and epoch with
// InitProducerID, so client must speak Kafka 0.11 or later. It is
// NewContext without a bound of its own.
func New(client sarama.Client, opts ...Option) (*Engine, error) {
	return NewContext(context.Background(), client, opts...)
}

// NewContext is New with ctx bounding the set-up; with
// WithTransactionalID that is the transaction coordinator's lookup and
// InitProducerID, retried while the coordinator is loading, moving or
// still ending the previous instance's transaction.
func NewContext(ctx context.Context, client sarama.Client, opts ...Option) (*Engine, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	v := client.Config().Version
	if !v.IsAtLeast(sarama.V0_11_0_0) {
		return nil, fmt.Errorf("produce: Kafka version %s is too old for idempotent produce (want 0.11 or later)", v)
	}
	if m := client.Config().Net.MaxOpenRequests; o.maxInFlight > m {
		return nil, fmt.Errorf("produce: max in flight %d exceeds the client's Net.MaxOpenRequests %d", o.maxInFlight, m)
	}
	var resp *sarama.InitProducerIDResponse
	var err error
	if o.txnID != "" {
		resp, err = initTxnProducerID(ctx, client, &o)
	} else {
		resp, err = client.InitProducerID()
	}
	if err != nil {
		return nil, fmt.Errorf("produce: init producer ID: %w", err)
	}
	if !errors.Is(resp.Err, sarama.ErrNoError) {
		return nil, fmt.Errorf("produce: init producer ID: %w", resp.Err)
	}
	e := &Engine{
		client:     client,
		o:          o,
		log:        o.logger,
		pid:        resp.ProducerID,
		epoch:      resp.ProducerEpoch,
		reqVersion: produceVersion(v),
		topics:     map[string]*topicState{},
		senders:    map[int32]*sender{},
		routeWake:  make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	if o.txnID != "" {
		e.txn = newTxn(e)
	}
	e.results = newResults(e)
	e.wg.Add(1)
	go e.route()
	return e, nil
}

// produceVersion is the newest ProduceRequest version sarama encodes that
// v supports; all of them carry v2 record batches.
func produceVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V2_8_0_0):
		return 9
	case v.IsAtLeast(sarama.V2_4_0_0):
		return 8
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 7
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 6
	case v.IsAtLeast(sarama.V1_0_0_0):
		return 5
	default:
		return 3
	}
}

// ProducerID returns the engine's producer ID and epoch. They are read
// under the engine lock: a new epoch (after an abort that lost sequence
// state, or a KIP-360 bump, see epoch.go) is written under it.
func (e *Engine) ProducerID() (int64, int16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pid, e.epoch
}

func (e *Engine) identityLocked() identity { return identity{pid: e.pid, epoch: e.epoch} }

// Produce queues r; cb (may be nil) receives its outcome exactly once.
// It blocks while the engine holds its maximum of unsettled records
// (WithMaxBufferedRecords) and, the first time a topic is seen, to learn
// its partitions; when ctx ends first, cb gets ctx's error.
func (e *Engine) Produce(ctx context.Context, r Record, cb Callback) {
	e.ProduceWithin(ctx, r, cb, nil)
}

// Deadline bounds a wait for room in the engine without a timer per
// record: a timer costs more than the rest of a Produce call, and a
// producer at full speed waits for room on most records.
type Deadline interface {
	// Waiting says a wait starts (true) or ends (false), so whatever
	// drives the deadline's clock keeps it running meanwhile.
	Waiting(bool)
	// Expired reports whether the deadline has passed; if not, recheck
	// closes when it is worth asking again.
	Expired() (passed bool, recheck <-chan struct{})
}

// ProduceWithin is Produce whose wait for room also ends, cb getting
// ErrDeliveryTimeout, once dl has expired (nil: no bound but ctx).
func (e *Engine) ProduceWithin(ctx context.Context, r Record, cb Callback, dl Deadline) {
	var to Receiver = noCallback
	if cb != nil {
		to = cb
	}
	e.ProduceTo(ctx, r, to, dl)
}

// ProduceTo is ProduceWithin with the outcome going to to (not nil).
func (e *Engine) ProduceTo(ctx context.Context, r Record, cb Receiver, dl Deadline) {
	size := r.size()
	if size > e.o.maxRecordBytes {
		e.failRecord(r.Partition, cb, fmt.Errorf("produce: record of about %d bytes, more than the maximum of %d: %w",
			size, e.o.maxRecordBytes, sarama.ErrMessageSizeTooLarge))
		return
	}

	e.mu.Lock()
	if e.pending >= e.o.maxBuffered && !e.closed {
		if err := e.waitForRoomLocked(ctx, dl); err != nil {
			e.failRecord(r.Partition, cb, err)
			return
		}
	}
	if e.closed {
		e.mu.Unlock()
		cb.Delivered(r.Partition, -1, ErrClosed)
		return
	}
	now := time.Now()
	ts := r.Timestamp
	if ts.IsZero() {
		ts = now
	}
	ts = ts.Truncate(time.Millisecond)
	t := e.topics[r.Topic]
	if t == nil {
		e.mu.Unlock()
		var err error
		if t, err = e.loadTopic(r.Topic); err != nil {
			e.failRecord(r.Partition, cb, err)
			return
		}
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			cb.Delivered(r.Partition, -1, ErrClosed)
			return
		}
	}
	pn, err := e.partitionOf(t, &r)
	if err != nil {
		e.failRecordLocked(r.Partition, cb, err)
		e.mu.Unlock()
		return
	}
	p := t.parts[pn]
	if p.lost != nil {
		e.failRecordLocked(pn, cb, p.lost)
		e.mu.Unlock()
		return
	}
	if e.txn != nil {
		if err := e.txn.admitLocked(p); err != nil {
			e.failRecordLocked(pn, cb, err)
			e.mu.Unlock()
			return
		}
	}
	b, fresh := p.openBatch(size, &e.o, now)
	b.append(&r, ts, size, cb)
	e.pending++
	var wake *sender
	if fresh || len(b.recs) >= e.o.maxBatchRecords {
		switch {
		case p.sender != nil:
			wake = p.sender
		case !p.routing:
			e.queueRouteLocked(p)
		}
	}
	e.mu.Unlock()
	if wake != nil {
		wake.poke()
	}
}

// waitForRoomLocked waits until the engine holds fewer than its maximum
// of unsettled records, or is closed. The caller holds the lock; it is
// held again on a nil return and released on an error.
func (e *Engine) waitForRoomLocked(ctx context.Context, dl Deadline) error {
	if dl != nil {
		dl.Waiting(true)
		defer dl.Waiting(false)
	}
	for e.pending >= e.o.maxBuffered && !e.closed {
		if e.space == nil {
			e.space = make(chan struct{})
		}
		space := e.space
		e.mu.Unlock()
		var recheck <-chan struct{} // nil without a deadline: never ready
		if dl != nil {
			var passed bool
			if passed, recheck = dl.Expired(); passed {
				return fmt.Errorf("%w: no room in the engine (%d records unsettled)", ErrDeliveryTimeout, e.o.maxBuffered)
			}
		}
		select {
		case <-space:
		case <-recheck:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		e.mu.Lock()
	}
	return nil
}

// failRecord reports a record that failed before it reached a batch. It
// goes through the results goroutine like every other outcome, so a
// partition's callbacks stay in produce order; only after Close, when that
// goroutine may be gone, does the caller's goroutine run it.
func (e *Engine) failRecord(pn int32, cb Receiver, err error) {
	e.mu.Lock()
	closed := e.closed
	if !closed {
		e.failRecordLocked(pn, cb, err)
	}
	e.mu.Unlock()
	if closed {
		cb.Delivered(pn, -1, err)
	}
}

func (e *Engine) failRecordLocked(pn int32, cb Receiver, err error) {
	b := newBatch(&partition{id: pn}, time.Time{})
	b.cbs = append(b.cbs, cb)
	b.err = err
	e.pending++
	e.results.push(b)
}

// loadTopic learns topic's partitions, outside the engine lock.
func (e *Engine) loadTopic(topic string) (*topicState, error) {
	ids, err := e.client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("produce: partitions of %q: %w", topic, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("produce: topic %q has no partitions", topic)
	}
	t := &topicState{parts: make([]*partition, len(ids)), partitioner: sarama.NewMurmur2Partitioner(topic)}
	for i := range t.parts {
		t.parts[i] = &partition{topic: topic, id: int32(i), txnHold: e.txn != nil}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.topics[topic]; old != nil {
		return old, nil
	}
	e.topics[topic] = t
	return t, nil
}

// partitionOf picks r's partition with sarama's murmur2 partitioner (the
// Java client's formula), the one today's producer uses; the caller holds
// the lock, which also guards the scratch message and the partitioner's
// random source.
func (e *Engine) partitionOf(t *topicState, r *Record) (int32, error) {
	n := int32(len(t.parts))
	if e.o.manual {
		if r.Partition < 0 || r.Partition >= n {
			return -1, fmt.Errorf("produce: partition %d of %q out of range [0,%d): %w", r.Partition, r.Topic, n, sarama.ErrInvalidPartition)
		}
		return r.Partition, nil
	}
	e.scratch.Key = nil
	if r.Key != nil {
		e.key.b = r.Key
		e.scratch.Key = &e.key
	}
	pn, err := t.partitioner.Partition(&e.scratch, n)
	e.key.b = nil
	return pn, err
}

// Flush sends every queued record at once, linger or not, and waits until
// all their callbacks have run or ctx ends.
func (e *Engine) Flush(ctx context.Context) error {
	e.mu.Lock()
	if e.pending == 0 {
		e.mu.Unlock()
		return nil
	}
	if e.idle == nil {
		e.idle = make(chan struct{})
	}
	idle := e.idle
	e.flushing++
	senders := e.senderListLocked()
	e.mu.Unlock()
	for _, s := range senders {
		s.poke()
	}
	defer func() {
		e.mu.Lock()
		e.flushing--
		e.mu.Unlock()
	}()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Close refuses new records, flushes the queued ones within ctx (or the
// close timeout when ctx has no deadline), then fails what is left with
// ErrClosed and stops every goroutine; see WithAbort for what bounds a
// sarama call in progress then. It is idempotent; later calls
// return the first call's result.
func (e *Engine) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		if e.space != nil {
			close(e.space) // waiting Produce calls see closed
			e.space = nil
		}
		e.mu.Unlock()
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, e.o.closeTimeout)
			defer cancel()
		}
		if err := e.Flush(ctx); err != nil {
			e.closeErr = fmt.Errorf("produce: close: records left unsettled: %w", err)
		}
		close(e.stop)
		if e.closeErr != nil && e.o.abort != nil {
			e.o.abort()
		}
		// A goroutine still in a sarama call (a metadata refresh, a dial)
		// is cut once the bound is spent.
		stopped := make(chan struct{})
		go func() { e.wg.Wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			if e.o.abort != nil {
				e.o.abort()
			}
			<-stopped
		}
		e.mu.Lock()
		var left []*batch
		for _, t := range e.topics {
			for _, p := range t.parts {
				for len(p.queue) > 0 {
					b := p.pop()
					b.err = ErrClosed
					left = append(left, b)
				}
				p.inflight = false
			}
		}
		e.mu.Unlock()
		e.results.push(left...)
		e.results.close()
	})
	return e.closeErr
}

func (e *Engine) senderListLocked() []*sender {
	l := make([]*sender, 0, len(e.senders))
	for _, s := range e.senders {
		l = append(l, s)
	}
	return l
}

// settleLocked records that n records' callbacks have run.
func (e *Engine) settleLocked(n int) {
	e.pending -= n
	if e.pending == 0 && e.idle != nil {
		close(e.idle)
		e.idle = nil
	}
	if e.pending < e.o.maxBuffered && e.space != nil {
		close(e.space)
		e.space = nil
	}
}
