// Package projection is the CQRS read side: an order view built from the
// pipeline's events and served over HTTP (GET /orders/{id}, GET
// /orders?status=...). The view lives in memory (and, with a PGStore, in a
// PostgreSQL table the endpoints then read) and is rebuilt by replaying the
// topics: at every start, and on POST /projection/rebuild.
package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"go.opentelemetry.io/otel/metric"
)

// Reader reads a topic from its start to its current end.
type Reader interface {
	Read(ctx context.Context, topic string) ([]*bulwark.Message, error)
}

// Config configures the projection.
type Config struct {
	Brokers []string
	Conn    []conn.Option
	Topics  events.Topics
	Codec   events.Codec
	Reader  Reader // for Rebuild
	// Store, if set, keeps the view in PostgreSQL too; the HTTP
	// endpoints then read it from there.
	Store  *PGStore
	Logger *slog.Logger
	Meter  metric.MeterProvider
}

// Projection keeps the view current.
type Projection struct {
	cfg Config

	mu       sync.RWMutex
	view     *View
	building *View // during Rebuild: live events go here too
	skipped  atomic.Int64
}

// New checks cfg.
func New(cfg Config) (*Projection, error) {
	if len(cfg.Brokers) == 0 || cfg.Codec == nil {
		return nil, errors.New("projection: Brokers and Codec are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Projection{cfg: cfg, view: NewView()}, nil
}

// Topics returns what the projection reads: the events, the stock topic
// (for releases) and the dead-letter topics (orders parked there).
func (p *Projection) Topics() []string {
	t := p.cfg.Topics
	out := append(t.Events(), t.Stock())
	for _, in := range t.Inputs() {
		out = append(out, t.DeadLetter(in))
	}
	return out
}

// Run follows the topics from their start until ctx ends. Its consumer
// group is new on every run, so every run replays everything: the view
// needs no storage of its own.
func (p *Projection) Run(ctx context.Context) error {
	copts := []consumer.Option{
		consumer.WithReadCommitted(true), // the default; these topics are written in transactions
		consumer.WithConnection(p.cfg.Conn...),
		consumer.WithLogger(p.cfg.Logger),
		consumer.WithStartFromOldest(),
		consumer.WithSessionTimeout(6 * time.Second),
		consumer.WithHeartbeatInterval(time.Second),
		consumer.WithGracePeriod(time.Second),
	}
	if p.cfg.Meter != nil {
		copts = append(copts, consumer.WithMeterProvider(p.cfg.Meter))
	}
	group := fmt.Sprintf("projection-%d", time.Now().UnixNano())
	c, err := consumer.New(p.cfg.Brokers, group, p.Topics(), bulwark.HandlerFunc(p.handle), copts...)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

func (p *Projection) handle(ctx context.Context, m *bulwark.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, err := p.apply(ctx, p.view, m)
	if err != nil {
		// A view skips what it cannot read (the service that owns the
		// topic dead-letters it); it must not dead-letter it a second time.
		p.cfg.Logger.Warn("projection: unreadable record skipped", "topic", m.Topic, "partition", m.Partition,
			"offset", m.Offset, "error", err)
		p.skipped.Add(1)
		return nil
	}
	if p.building != nil {
		_, _ = p.apply(ctx, p.building, m)
	}
	if p.cfg.Store != nil && id != "" {
		o, _ := p.view.Get(id)
		if err := p.cfg.Store.upsert(ctx, p.cfg.Store.db, o); err != nil {
			// The database is down: pause the partition and try again
			// (applying the event again is harmless: facts only get set).
			// Not a reason to dead-letter anything.
			return bulwark.Pause(fmt.Errorf("projection: write order %s: %w", id, err), time.Second)
		}
	}
	return nil
}

// Skipped returns how many records the live view could not read.
func (p *Projection) Skipped() int64 { return p.skipped.Load() }

// Rebuild replays every topic into a fresh view and swaps it in. Events
// the live consumer handles meanwhile go to both views, so none is lost.
func (p *Projection) Rebuild(ctx context.Context) (int, error) {
	if p.cfg.Reader == nil {
		return 0, errors.New("projection: no Reader to rebuild from")
	}
	fresh := NewView()
	p.mu.Lock()
	p.building = fresh
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.building = nil
		p.mu.Unlock()
	}()
	n := 0
	for _, topic := range p.Topics() {
		recs, err := p.cfg.Reader.Read(ctx, topic)
		if err != nil {
			return n, err
		}
		p.mu.Lock()
		for _, m := range recs {
			if _, err := p.apply(ctx, fresh, m); err != nil {
				p.cfg.Logger.Warn("projection: skipping unreadable record in rebuild", "topic", m.Topic, "offset", m.Offset, "error", err)
			}
			n++
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Store != nil {
		if err := p.cfg.Store.replaceAll(ctx, fresh.List("")); err != nil {
			return n, fmt.Errorf("projection: rewrite the PostgreSQL view: %w", err)
		}
	}
	p.view = fresh
	return n, nil
}

// Replay builds a view from the topics alone, without touching the live
// one: the pipeline compares the two.
func Replay(ctx context.Context, cfg Config) (*View, error) {
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := p.Rebuild(ctx); err != nil {
		return nil, err
	}
	return p.view, nil
}

// Read runs fn with the current view, read-locked.
func (p *Projection) Read(fn func(*View)) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	fn(p.view)
}

// apply applies m to v and returns the ID of the order it changed ("" when
// none).
func (p *Projection) apply(ctx context.Context, v *View, m *bulwark.Message) (string, error) {
	t := p.cfg.Topics
	c := p.cfg.Codec
	id := string(m.Key)
	switch m.Topic {
	case t.Orders():
		var e events.OrderCreated
		if err := c.Decode(ctx, m.Topic, m.Value, &e); err != nil {
			return "", err // dead-lettered by the consumer: a poison record
		}
		o := v.order(e.OrderID)
		o.Created, o.CustomerID, o.SKU, o.Quantity, o.AmountCents = true, e.CustomerID, e.SKU, e.Quantity, e.AmountCents
		id = e.OrderID
	case t.Reserved():
		v.order(id).Reserved = true
	case t.Rejected():
		var e events.InventoryRejected
		if err := c.Decode(ctx, m.Topic, m.Value, &e); err != nil {
			return "", err
		}
		o := v.order(id)
		o.Rejected, o.Reason = true, e.Reason
	case t.PaymentCompleted():
		var e events.PaymentCompleted
		if err := c.Decode(ctx, m.Topic, m.Value, &e); err != nil {
			return "", err
		}
		o := v.order(id)
		o.Paid, o.ChargeID = true, e.ChargeID
	case t.PaymentFailed():
		var e events.PaymentFailed
		if err := c.Decode(ctx, m.Topic, m.Value, &e); err != nil {
			return "", err
		}
		o := v.order(id)
		o.PaymentFailed, o.Reason = true, e.Reason
	case t.Release():
		// A release was asked for; Released is set when the inventory
		// applied it (stock topic).
		return "", nil
	case t.ShippingScheduled():
		var e events.ShippingScheduled
		if err := c.Decode(ctx, m.Topic, m.Value, &e); err != nil {
			return "", err
		}
		o := v.order(id)
		o.Shipped, o.Carrier = true, e.Carrier
	case t.Stock():
		if !strings.HasPrefix(id, "order/") || m.Value == nil {
			return "", nil
		}
		var e events.StockRecord
		if err := c.Decode(ctx, m.Topic, m.Value, &e); err != nil {
			return "", err
		}
		if e.State != events.StateReleased {
			return "", nil
		}
		id = e.OrderID
		v.order(id).Released = true
	case t.DeadLetter(t.Reserved()), t.DeadLetter(t.PaymentCompleted()), t.DeadLetter(t.PaymentFailed()):
		// An order's event parked in a dead-letter topic: its flow stopped
		// there until someone replays it.
		v.order(id).DeadLettered = true
	default:
		return "", nil // orders.dlt, inventory.release.dlt: not an order's own state
	}
	o := v.order(id)
	o.UpdatedAt = m.Timestamp
	o.derive()
	return id, nil
}
