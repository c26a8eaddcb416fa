// Package inventory is the inventory service: an exactly-once
// read-process-write session (package eos) from the orders topic to
// inventory.reserved / inventory.rejected, keeping its stock in a compacted
// topic written in the same transactions, and releasing stock on the saga's
// inventory.release commands.
//
// Because the stock records commit atomically with the decisions and with
// the consumed offsets, a restarted instance rebuilds exactly the state
// that matches what downstream services saw: no reservation is lost or
// counted twice, whatever crashed when.
//
// Run one instance per cluster (stock is shared by all order partitions);
// a restarted instance with the same InstanceID fences the old one.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/bulwarkgo/bulwark/table"
	"go.opentelemetry.io/otel/metric"
)

// sessionTimeout is Kafka's smallest default (group.min.session.timeout.ms):
// a crashed instance's partitions move on after it.
const sessionTimeout = 6 * time.Second

// Config configures the service.
type Config struct {
	Brokers      []string
	Conn         []conn.Option
	Topics       events.Topics
	Codec        events.Codec
	InstanceID   string           // stable identity, e.g. the pod name; default "inventory-1"
	InitialStock map[string]int64 // units per SKU, written once when the stock topic has none
	Logger       *slog.Logger
	Meter        metric.MeterProvider
}

// Service is one inventory instance.
type Service struct {
	cfg Config

	mu    sync.Mutex
	stock *Stock
}

// New checks cfg and returns a service; Run starts it.
func New(cfg Config) (*Service, error) {
	if len(cfg.Brokers) == 0 || cfg.Codec == nil {
		return nil, errors.New("inventory: Brokers and Codec are required")
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = "inventory-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, stock: NewStock()}, nil
}

// Run restores the stock from the compacted topic, seeds SKUs that have no
// stock yet, and processes orders and releases until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if err := s.restore(ctx); err != nil {
		return err
	}
	if err := s.seed(ctx); err != nil {
		return err
	}
	opts := []eos.Option{
		eos.WithConnection(s.cfg.Conn...),
		eos.WithInstanceID(s.cfg.InstanceID),
		eos.WithLogger(s.cfg.Logger),
		eos.WithBatchSize(100),
		eos.WithSessionTimeout(sessionTimeout),
		// A restarted instance rejoins as the same member: no rebalance
		// wait for the partitions it held.
		eos.WithStaticMembership(),
	}
	if s.cfg.Meter != nil {
		opts = append(opts, eos.WithMeterProvider(s.cfg.Meter))
	}
	t := s.cfg.Topics
	session, err := eos.New(s.cfg.Brokers, "inventory", []string{t.Orders(), t.Release()}, "inventory",
		eos.HandlerFunc(s.process), opts...)
	if err != nil {
		return err
	}
	return session.Run(ctx)
}

// Available returns the units of sku not reserved (including reservations
// of transactions that have not committed yet).
func (s *Service) Available(sku string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stock.Available(sku)
}

// restore rebuilds the stock from the compacted topic with package table:
// every partition read to its last stable offset (read_committed), so the
// state matches what the committed transactions said. The table is closed
// once restored: from then on this instance is the topic's only writer.
func (s *Service) restore(ctx context.Context) error {
	tbl, err := table.Open(ctx, s.cfg.Brokers, s.cfg.Topics.Stock(),
		table.WithConnection(s.cfg.Conn...), table.WithLogger(s.cfg.Logger))
	if err != nil {
		return fmt.Errorf("inventory: restore: %w", err)
	}
	defer tbl.Close()
	if err := tbl.WaitReady(ctx); err != nil {
		return fmt.Errorf("inventory: restore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// One record per live key; Stock.restore does not depend on their order.
	for key, value := range tbl.All() {
		var rec events.StockRecord
		if err := s.cfg.Codec.Decode(ctx, s.cfg.Topics.Stock(), value, &rec); err != nil {
			return fmt.Errorf("inventory: restore %s key %q: %w", s.cfg.Topics.Stock(), key, err)
		}
		s.stock.restore(string(key), rec)
	}
	return nil
}

// seed writes the initial stock of SKUs the topic does not know yet.
func (s *Service) seed(ctx context.Context) error {
	s.mu.Lock()
	var recs []events.StockRecord
	for sku, units := range s.cfg.InitialStock {
		if s.stock.seed(sku, units) {
			recs = append(recs, s.stock.skuRecord(sku))
		}
	}
	s.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	p, err := producer.New(s.cfg.Brokers, producer.WithConnection(s.cfg.Conn...), producer.WithLogger(s.cfg.Logger))
	if err != nil {
		return fmt.Errorf("inventory: seed: %w", err)
	}
	defer p.Close()
	w, err := table.NewWriter(p, s.cfg.Topics.Stock())
	if err != nil {
		return fmt.Errorf("inventory: seed: %w", err)
	}
	for _, rec := range recs {
		v, err := s.cfg.Codec.Encode(ctx, s.cfg.Topics.Stock(), rec)
		if err != nil {
			return err
		}
		if _, err := w.Put(ctx, []byte(events.StockKeySKU(rec.SKU)), v); err != nil {
			return fmt.Errorf("inventory: seed %s: %w", rec.SKU, err)
		}
	}
	return nil
}

// process handles one record of the orders or inventory.release topic.
// eos calls it from one goroutine; the lock is for Available.
func (s *Service) process(ctx context.Context, in *bulwark.Message, out eos.Emitter) error {
	switch in.Topic {
	case s.cfg.Topics.Orders():
		var o events.OrderCreated
		if err := s.cfg.Codec.Decode(ctx, in.Topic, in.Value, &o); err != nil {
			return err // permanent: dead-lettered inside the transaction
		}
		if o.OrderID == "" || o.Quantity <= 0 {
			return bulwark.Permanentf("inventory: invalid order %q (quantity %d)", o.OrderID, o.Quantity)
		}
		return s.reserve(ctx, in, o, out)
	case s.cfg.Topics.Release():
		var r events.InventoryRelease
		if err := s.cfg.Codec.Decode(ctx, in.Topic, in.Value, &r); err != nil {
			return err
		}
		return s.release(ctx, in, r, out)
	}
	return bulwark.Permanentf("inventory: unexpected topic %s", in.Topic)
}

func (s *Service) reserve(ctx context.Context, in *bulwark.Message, o events.OrderCreated, out eos.Emitter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.stock.reservations[o.OrderID]
	undo := func() {}
	switch {
	case r == nil:
		r = &reservation{sku: o.SKU, quantity: o.Quantity, decided: sourceOf(in)}
		if _, known := s.stock.initial[o.SKU]; known && s.stock.available[o.SKU] >= int64(o.Quantity) {
			r.state = events.StateReserved
			s.stock.available[o.SKU] -= int64(o.Quantity)
		} else {
			r.state = events.StateRejected
		}
		s.stock.reservations[o.OrderID] = r
		undo = func() {
			if r.state == events.StateReserved {
				s.stock.available[o.SKU] += int64(o.Quantity)
			}
			delete(s.stock.reservations, o.OrderID)
		}
	case r.decided != sourceOf(in):
		// The same order again (a duplicate publish): decided already.
		s.cfg.Logger.Info("inventory: duplicate order skipped", "order_id", o.OrderID)
		return nil
	}
	// First time, or this record again after an aborted transaction: emit
	// the decision (the same one) with the state it produced.
	var event any
	var topic string
	if r.state == events.StateRejected {
		reason := "insufficient stock"
		if _, known := s.stock.initial[o.SKU]; !known {
			reason = "unknown sku"
		}
		topic, event = s.cfg.Topics.Rejected(), events.InventoryRejected{OrderID: o.OrderID, SKU: o.SKU, Quantity: o.Quantity, Reason: reason}
	} else {
		topic, event = s.cfg.Topics.Reserved(), events.InventoryReserved{OrderID: o.OrderID, SKU: o.SKU, Quantity: o.Quantity, AmountCents: o.AmountCents}
	}
	if err := s.emit(ctx, out, o.OrderID, o.SKU, r, topic, event); err != nil {
		undo() // the record is dead-lettered or retried: leave no trace
		return err
	}
	return nil
}

func (s *Service) release(ctx context.Context, in *bulwark.Message, rel events.InventoryRelease, out eos.Emitter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.stock.reservations[rel.OrderID]
	switch {
	case r == nil:
		return bulwark.Permanentf("inventory: release of unknown order %q", rel.OrderID)
	case r.state == events.StateRejected:
		return bulwark.Permanentf("inventory: release of rejected order %q", rel.OrderID)
	case r.state == events.StateReserved:
		r.state = events.StateReleased
		r.released = sourceOf(in)
		s.stock.available[r.sku] += int64(r.quantity)
		if err := s.emit(ctx, out, rel.OrderID, r.sku, r, "", nil); err != nil {
			r.state, r.released = events.StateReserved, source{}
			s.stock.available[r.sku] -= int64(r.quantity)
			return err
		}
		return nil
	case r.released != sourceOf(in):
		s.cfg.Logger.Info("inventory: duplicate release skipped", "order_id", rel.OrderID)
		return nil
	}
	return s.emit(ctx, out, rel.OrderID, r.sku, r, "", nil)
}

// emit writes the stock records (the order's reservation and its SKU's
// units) and, when topic is set, the event.
func (s *Service) emit(ctx context.Context, out eos.Emitter, orderID, sku string, r *reservation, topic string, event any) error {
	if topic != "" {
		v, err := s.cfg.Codec.Encode(ctx, topic, event)
		if err != nil {
			return err
		}
		out.Emit(&bulwark.Message{Topic: topic, Key: []byte(orderID), Value: v})
	}
	orderRec := events.StockRecord{SKU: sku, OrderID: orderID, Quantity: r.quantity, State: r.state}
	if err := s.putStock(ctx, out, events.StockKeyOrder(orderID), orderRec); err != nil {
		return err
	}
	if _, known := s.stock.initial[sku]; known {
		return s.putStock(ctx, out, events.StockKeySKU(sku), s.stock.skuRecord(sku))
	}
	return nil
}

// putStock emits a stock table update (table.Put), which commits with the
// decision and the consumed offsets.
func (s *Service) putStock(ctx context.Context, out eos.Emitter, key string, rec events.StockRecord) error {
	topic := s.cfg.Topics.Stock()
	v, err := s.cfg.Codec.Encode(ctx, topic, rec)
	if err != nil {
		return err
	}
	return table.Put(out, topic, []byte(key), v)
}
