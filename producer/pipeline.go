package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"go.opentelemetry.io/otel/trace"
)

// pipeline is what Producer and TransactionalProducer share: records go to
// the produce engine (backend.go), whose results come back on one goroutine that
// settles each record (telemetry, then its callback); the delivery timeout
// (expiry.go) bounds every record's outcome whatever the backend does.
type pipeline struct {
	be     *backend
	cfg    config
	tel    *instruments
	logger *slog.Logger

	// stop closes when Close starts: no transaction begins after it.
	// senders is read-held while a record is handed over; Close write-locks
	// it to know no hand-off is under way before it waits for the records
	// in flight (a record handed over after the wait began would be left
	// out of it).
	stop    chan struct{}
	senders sync.RWMutex
	closed  bool
	// Every send read-locks senders; the result goroutine writes what
	// follows for every record. Apart, they do not share a cache line.
	_ [64]byte

	inFlight atomic.Int64
	idleMu   sync.Mutex
	idle     chan struct{} // closed when inFlight drops to zero; nil when nobody waits

	expiry   *expiry
	expired  atomic.Int64 // records failed by the delivery timeout so far
	notifyMu sync.Mutex   // callbacks never run concurrently

	stopOnce  sync.Once
	closeOnce sync.Once
	closeErr  error
}

// record is one record between hand-off and outcome; its Delivered method
// receives the backend's outcome.
type record struct {
	out     produce.Outgoing // the engine's form of the record's headers
	idText  [messageIDLen]byte
	scratch [1]bulwark.Header // the added message-ID header, kept here: on send's stack it would escape
	p       *pipeline
	topic   *topicTelemetry
	start   time.Time // zero when the send duration is not recorded
	span    trace.Span
	done    func(Result, error) // SendAsync
	wait    chan outcome        // Send

	state      atomic.Uint32 // recordPending until settled, once
	started    int64         // expiry tick at hand-off; set before it, then guarded by expiry.mu
	linked     bool          // in the expiry list; guarded by expiry.mu
	prev, next *record
}

type outcome struct {
	res Result
	err error
}

// newPipeline connects the engine, transactional when transactionalID is
// not empty.
func newPipeline(ctx context.Context, brokers []string, cfg config, transactionalID string) (*pipeline, error) {
	if err := conn.CheckBrokers(brokers); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	settings, err := conn.Build(cfg.connOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	scfg, err := saramax.NewProducerConfig(settings, saramax.ProducerSettings{
		TransactionalID:    transactionalID,
		TransactionTimeout: cfg.transactionTimeout,
		RetryMax:           cfg.retryMax(),
		RetryBackoff:       cfg.retryBackoff,
		RequestTimeout:     cfg.requestTimeout(),
		Linger:             cfg.linger,
		MaxBatchRecords:    cfg.maxBatchRecords,
		MaxRecordBytes:     cfg.maxRecordBytes,
		Compression:        cfg.compression,
		ManualPartitioning: cfg.manualPartitioning,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	applySaramaHooks(scfg, cfg.saramaHooks)
	if err := saramax.ValidateProducer(scfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	tel, err := newInstruments(cfg.tracerProvider, cfg.meterProvider, brokers, settings.ClientID)
	if err != nil {
		return nil, fmt.Errorf("producer: telemetry: %w", err)
	}
	be, err := connectEngine(ctx, brokers, cfg, scfg, settings, transactionalID)
	if err != nil {
		return nil, fmt.Errorf("producer: connect to %v: %w", brokers, err)
	}
	p := &pipeline{be: be, cfg: cfg, tel: tel, logger: cfg.logger, stop: make(chan struct{}), expiry: newExpiry(cfg.deliveryTimeout)}
	// The watch ends with the backend: by then every record has settled.
	go p.expiry.run(be.done(), p.expire)
	return p, nil
}

// send hands msg to the backend. On success r settles exactly once, later; on
// error it never does.
func (p *pipeline) send(ctx context.Context, msg *bulwark.Message, r *record) error {
	if msg == nil {
		return bulwark.Permanent(fmt.Errorf("%w: nil message", ErrInvalidRecord))
	}
	if msg.Topic == "" {
		return bulwark.Permanent(fmt.Errorf("%w: no topic", ErrInvalidRecord))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.p = p
	// Reading the clock costs more than the rest of the metrics together
	// when they go nowhere (no meter provider set).
	if p.tel.duration.Enabled(ctx) {
		r.start = time.Now()
	}
	r.topic = p.tel.topic(msg.Topic)

	added := r.scratch[:0]
	var id []byte
	if _, ok := msg.Header(bulwark.HeaderMessageID); !ok {
		newMessageID(&r.idText)
		id = r.idText[:]
		added = append(added, bulwark.Header{Key: bulwark.HeaderMessageID, Value: id})
	}
	span, traceHeaders := p.tel.startSpan(ctx, r.topic, id)
	r.span = span
	if traceHeaders != nil {
		added = append(traceHeaders, added...)
	}

	p.senders.RLock()
	if p.closed {
		p.senders.RUnlock()
		p.abandon(ctx, r, bulwark.ErrClosed)
		return bulwark.ErrClosed
	}
	p.inFlight.Add(1)
	p.tel.inFlight.Add(ctx, 1)
	// The delivery timeout counts from here; waiting for room in the client
	// is part of it.
	stamp := p.expiry.stamp()
	r.started = stamp
	p.be.enqueue(ctx, r, msg, added)
	p.senders.RUnlock()
	p.expiry.add(r, stamp)
	return nil
}

// Waiting and Expired make r the bound of its own hand-off's wait for room
// (produce.Deadline).
func (r *record) Waiting(on bool)                  { r.p.expiry.waitingSender(on) }
func (r *record) Expired() (bool, <-chan struct{}) { return r.p.expiry.passed(r.started) }

// abandon ends the telemetry of a record that never reached the backend.
func (p *pipeline) abandon(ctx context.Context, r *record, err error) {
	p.tel.failed.Add(ctx, 1, p.tel.failedOpts(r.topic, err))
	if r.span.IsRecording() {
		r.span.RecordError(err)
	}
	r.span.End()
}

// Delivered is called by the backend's result goroutine, once per record. A
// record that expired meanwhile was reported then; its late outcome is
// dropped.
func (r *record) Delivered(partition int32, offset int64, err error) {
	if !r.state.CompareAndSwap(recordPending, recordSettled) {
		return
	}
	p := r.p
	p.expiry.remove(r)
	res := Result{Topic: r.topic.name, Partition: partition, Offset: offset}
	if err != nil {
		err = deliveryError(res.Topic, err)
		p.logger.Debug("producer: record failed", slog.String("topic", res.Topic), slog.Any("error", err))
	}
	r.settle(res, err)
}

// expire fails r, which the backend has not settled within the delivery
// timeout. It may still be written: a request holding it may still be
// answered.
func (p *pipeline) expire(r *record) {
	p.expired.Add(1)
	res := Result{Topic: r.topic.name, Partition: -1, Offset: -1}
	err := fmt.Errorf("producer: send to %s: %w after %v (the record may still be written)", res.Topic, ErrDeliveryTimeout, p.cfg.deliveryTimeout)
	p.logger.Debug("producer: record timed out", slog.String("topic", res.Topic), slog.Any("error", err))
	r.settle(res, err)
}

func (r *record) settle(res Result, err error) {
	p := r.p
	p.tel.settled(context.Background(), r, res.Partition, res.Offset, err)
	r.notify(res, err)
	p.release()
}

func (r *record) notify(res Result, err error) {
	if r.wait != nil {
		r.wait <- outcome{res, err}
		return
	}
	// Expiry and the result goroutine both settle records: callbacks are
	// serialised so they still never run concurrently.
	r.p.notifyMu.Lock()
	defer r.p.notifyMu.Unlock()
	// A panicking callback must not take the result goroutine down with it:
	// every later record would hang.
	defer func() {
		if v := recover(); v != nil {
			r.p.logger.Error("producer: SendAsync callback panicked", slog.Any("panic", v))
		}
	}()
	r.done(res, err)
}

// deliveryError classifies a backend's failure of a record: a missing
// topic pauses, the record's own faults are permanent, the rest (leaders,
// timeouts, connections) retryable.
func deliveryError(topic string, err error) error {
	switch {
	case saramax.IsUnknownTopic(err):
		return bulwark.Pause(fmt.Errorf("producer: send to %s: %w (%w)", topic, ErrUnknownTopic, err), 0)
	case errors.Is(err, produce.ErrDeliveryTimeout):
		return fmt.Errorf("producer: send to %s: %w (%w)", topic, ErrDeliveryTimeout, err)
	case errors.Is(err, produce.ErrClosed):
		return fmt.Errorf("producer: send to %s: %w (%w)", topic, bulwark.ErrClosed, err)
	}
	err = fmt.Errorf("producer: send to %s: %w", topic, err)
	if saramax.IsPermanentProduceError(err) {
		return bulwark.Permanent(err)
	}
	return err
}

// release marks one record settled and wakes Flush when none are left.
func (p *pipeline) release() {
	if p.inFlight.Add(-1) != 0 {
		return
	}
	p.idleMu.Lock()
	if p.idle != nil && p.inFlight.Load() == 0 {
		close(p.idle)
		p.idle = nil
	}
	p.idleMu.Unlock()
}

// flush waits until every record handed to the backend has settled.
func (p *pipeline) flush(ctx context.Context) error {
	for {
		p.idleMu.Lock()
		if p.inFlight.Load() == 0 {
			p.idleMu.Unlock()
			return nil
		}
		if p.idle == nil {
			p.idle = make(chan struct{})
		}
		idle := p.idle
		p.idleMu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("producer: flush: %w with %d records in flight", ctx.Err(), p.inFlight.Load())
		}
	}
}

// sendSync sends msg and waits for its outcome or ctx. The outcome comes
// by the delivery timeout at the latest (see expiry).
func (p *pipeline) sendSync(ctx context.Context, msg *bulwark.Message) (Result, error) {
	r := &record{wait: make(chan outcome, 1)}
	if err := p.send(ctx, msg, r); err != nil {
		return Result{}, err
	}
	select {
	case o := <-r.wait:
		return o.res, o.err
	case <-ctx.Done():
		return Result{}, fmt.Errorf("producer: send to %s: %w (the record may still be written)", msg.Topic, ctx.Err())
	}
}

// sendAsync sends msg; done gets its outcome exactly once.
func (p *pipeline) sendAsync(ctx context.Context, msg *bulwark.Message, done func(Result, error)) {
	if done == nil {
		done = func(Result, error) {}
	}
	r := &record{done: done}
	if err := p.send(ctx, msg, r); err != nil {
		var topic string
		if msg != nil {
			topic = msg.Topic
		}
		done(Result{Topic: topic, Partition: -1, Offset: -1}, err)
	}
}

// beginClose makes senders waiting for the backend give up with
// bulwark.ErrClosed.
func (p *pipeline) beginClose() { p.stopOnce.Do(func() { close(p.stop) }) }

// close stops taking records, waits (bounded) for those in flight, and
// shuts the backend down. Later calls return the first call's result.
func (p *pipeline) close() error {
	p.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.closeTimeout)
		defer cancel()
		p.beginClose()
		p.senders.Lock()
		p.closed = true
		p.senders.Unlock()
		flushErr := p.flush(ctx)
		if err := p.be.shutdown(ctx); err != nil {
			p.logger.Warn("producer: close timed out; records still in flight are settled in the background",
				slog.Int64("in_flight", p.inFlight.Load()), slog.Duration("close_timeout", p.cfg.closeTimeout), slog.Any("error", err))
			if flushErr == nil {
				flushErr = err
			}
		}
		if flushErr != nil {
			p.closeErr = fmt.Errorf("producer: close: %w", flushErr)
		}
	})
	return p.closeErr
}
