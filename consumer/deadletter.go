package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	// Named engine here: the package's tests have a helper called engine.
	engine "github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"go.opentelemetry.io/otel/metric"
)

// Dead-letter and retry-topic writes: the engine retries one for up to
// deadLetterDeliveryTimeout (long enough to ride out a leader move), after
// which writeBlocking retries it while the partition waits.
const (
	deadLetterRetryBackoff    = 100 * time.Millisecond
	deadLetterDeliveryTimeout = 5 * time.Second
)

// deadLetterWriter writes dead letters (and records moved to a retry topic)
// with an idempotent produce engine made on first use, so a consumer that
// never dead-letters opens no producer.
type deadLetterWriter struct {
	brokers []string
	conn    conn.Settings
	mp      metric.MeterProvider // the consumer's, for the bridged broker metrics; nil: the otel global
	mu      sync.Mutex
	e       *engine.Connected
	closed  bool
}

func newDeadLetterWriter(brokers []string, cs conn.Settings, mp metric.MeterProvider) *deadLetterWriter {
	return &deadLetterWriter{brokers: brokers, conn: cs, mp: mp}
}

// connected returns the engine, connecting it (bounded by ctx) on first use.
func (w *deadLetterWriter) connected(ctx context.Context) (*engine.Connected, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, bulwark.ErrClosed
	}
	if w.e != nil {
		return w.e, nil
	}
	cfg, err := saramax.NewProducerConfig(w.conn, saramax.ProducerSettings{RetryMax: 10, RetryBackoff: deadLetterRetryBackoff})
	if err != nil {
		return nil, err
	}
	if err := saramax.ValidateProducer(cfg); err != nil {
		return nil, err
	}
	e, err := engine.Connect(ctx, w.brokers, cfg, w.conn,
		engine.WithRetryBackoff(deadLetterRetryBackoff), engine.WithDeliveryTimeout(deadLetterDeliveryTimeout),
		engine.WithMeterProvider(w.mp))
	if err != nil {
		return nil, err
	}
	w.e = e
	return e, nil
}

// pendingDeadLetter is one dead letter on its way: the engine's form of
// its headers and the channel its acknowledgement arrives on.
type pendingDeadLetter struct {
	out engine.Outgoing
	ack chan error
}

func (p *pendingDeadLetter) delivered(_ int32, _ int64, err error) { p.ack <- err }

// write sends dl and waits for the broker's acknowledgement. dl's bytes
// are shared with the engine until then, or until the engine gives up on
// it when ctx ends first.
func (w *deadLetterWriter) write(ctx context.Context, dl *bulwark.Message) error {
	e, err := w.connected(ctx)
	if err != nil {
		return err
	}
	pd := &pendingDeadLetter{ack: make(chan error, 1)}
	// After close, the engine fails the record with ErrClosed.
	e.Produce(ctx, pd.out.Record(dl, nil), pd.delivered)
	select {
	case err := <-pd.ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// abort cuts the engine's connections: records still queued fail (their
// source records stay uncommitted). Idempotent.
func (w *deadLetterWriter) abort() {
	w.mu.Lock()
	e := w.e
	w.mu.Unlock()
	if e != nil {
		e.Cut()
	}
}

// close flushes and closes the engine; when ctx ends first the
// connections are cut, and close returns once the engine has failed what
// it held.
func (w *deadLetterWriter) close(ctx context.Context) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	e := w.e
	w.mu.Unlock()
	if e != nil {
		_ = e.Close(ctx)
	}
}
