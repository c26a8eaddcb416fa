package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// deadLetterWriter writes dead letters with an idempotent producer made on
// first use, so a consumer that never dead-letters opens no producer.
type deadLetterWriter struct {
	brokers []string
	conn    conn.Settings
	mu      sync.Mutex
	p       *saramax.AsyncProducer
	aborter *saramax.Aborter
	stop    chan struct{}
	closed  bool
	// sending is held (read) around Enqueue so close never calls
	// AsyncClose while a record is being handed over.
	sending sync.RWMutex
}

func newDeadLetterWriter(brokers []string, cs conn.Settings) *deadLetterWriter {
	return &deadLetterWriter{brokers: brokers, conn: cs, stop: make(chan struct{})}
}

func (w *deadLetterWriter) producer() (*saramax.AsyncProducer, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, bulwark.ErrClosed
	}
	if w.p != nil {
		return w.p, nil
	}
	cfg, err := saramax.NewProducerConfig(w.conn, saramax.ProducerSettings{RetryMax: 10, RetryBackoff: 100 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	// Cut off when Run runs out of time to stop: then retries stop
	// waiting too, so the producer's goroutines end soon after.
	w.aborter = saramax.MakeAbortable(cfg)
	p, err := saramax.NewAsyncProducer(w.brokers, cfg)
	if err != nil {
		return nil, err
	}
	w.p = p
	return p, nil
}

// pendingDeadLetter is one dead letter on its way: sarama's form of it and
// the channel its acknowledgement arrives on.
type pendingDeadLetter struct {
	out saramax.Outgoing
	ack chan error
}

func (p *pendingDeadLetter) Delivered(_ int32, _ int64, err error) { p.ack <- err }

// write sends dl and waits for the broker's acknowledgement.
func (w *deadLetterWriter) write(ctx context.Context, dl *bulwark.Message) error {
	p, err := w.producer()
	if err != nil {
		return err
	}
	pd := &pendingDeadLetter{ack: make(chan error, 1)}
	w.sending.RLock()
	err = p.Enqueue(ctx, w.stop, &pd.out, dl, nil, pd)
	w.sending.RUnlock()
	if err != nil {
		return err
	}
	select {
	case err := <-pd.ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// abort cuts the producer's connections: records still queued fail (their
// source records stay uncommitted). Idempotent.
func (w *deadLetterWriter) abort() {
	w.mu.Lock()
	a := w.aborter
	w.mu.Unlock()
	if a != nil {
		a.Abort()
	}
}

// close flushes and closes the producer; when ctx ends first the
// connections are cut, and close returns once the producer has given up
// on what it held.
func (w *deadLetterWriter) close(ctx context.Context) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	p := w.p
	close(w.stop)
	w.mu.Unlock()
	if p == nil {
		return
	}
	w.sending.Lock() // Enqueue calls in progress return: stop is closed
	p.AsyncClose()
	w.sending.Unlock()
	select {
	case <-p.Done():
		return
	case <-ctx.Done():
	}
	w.abort()
	<-p.Done()
}
