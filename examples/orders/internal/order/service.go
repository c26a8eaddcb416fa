// Package order is the order service: it accepts orders over HTTP (and from
// a load generator) and publishes an OrderCreated event per order to the
// orders topic, keyed by order ID, in a Kafka transaction.
//
// The transaction is what makes a retry safe here: a failed attempt is
// aborted and invisible to read_committed consumers, so retrying never
// publishes an order twice. With an outbox (package outbox) the order row
// and its event commit together in PostgreSQL instead, and the outbox
// relay publishes the event.
package order

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
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/outbox"
	"github.com/bulwarkgo/bulwark/producer"
	"go.opentelemetry.io/otel/metric"
)

// Config configures the service.
type Config struct {
	Brokers         []string
	Conn            []conn.Option
	Topics          events.Topics
	Codec           events.Codec
	TransactionalID string // default "orders-api-1"
	// Outbox, if set, makes Place write the order row and its event to
	// PostgreSQL in one transaction; the outbox relay publishes the event.
	Outbox *outbox.Store
	// OnPlaced, if set, is called after each order is committed (from the
	// HTTP endpoint or the generator).
	OnPlaced func(events.OrderCreated)
	Logger   *slog.Logger
	Meter    metric.MeterProvider
}

// Service publishes orders.
type Service struct {
	cfg Config

	mu sync.Mutex // guards p: replaced after a fatal error
	p  *producer.TransactionalProducer

	placed  atomic.Int64
	retried atomic.Int64
}

// New connects the transactional producer.
func New(cfg Config) (*Service, error) {
	if len(cfg.Brokers) == 0 || cfg.Codec == nil {
		return nil, errors.New("order: Brokers and Codec are required")
	}
	if cfg.TransactionalID == "" {
		cfg.TransactionalID = "orders-api-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg}
	if cfg.Outbox != nil {
		return s, nil // the relay publishes
	}
	p, err := s.connect()
	if err != nil {
		return nil, err
	}
	s.p = p
	return s, nil
}

func (s *Service) connect() (*producer.TransactionalProducer, error) {
	opts := []producer.Option{
		producer.WithConnection(s.cfg.Conn...),
		producer.WithLogger(s.cfg.Logger),
		producer.WithDeliveryTimeout(10 * time.Second),
	}
	if s.cfg.Meter != nil {
		opts = append(opts, producer.WithMeterProvider(s.cfg.Meter))
	}
	return producer.NewTransactional(s.cfg.Brokers, s.cfg.TransactionalID, opts...)
}

// Close closes the producer.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil
	}
	return s.p.Close()
}

// Placed returns how many orders were published.
func (s *Service) Placed() int64 { return s.placed.Load() }

// Retries returns how many transactions were retried.
func (s *Service) Retries() int64 { return s.retried.Load() }

// Place publishes o, retrying failed transactions until ctx ends. When it
// returns nil the order is committed to the orders topic exactly once.
func (s *Service) Place(ctx context.Context, o events.OrderCreated) error {
	topic := s.cfg.Topics.Orders()
	value, err := s.cfg.Codec.Encode(ctx, topic, o)
	if err != nil {
		return err
	}
	msg := &bulwark.Message{Topic: topic, Key: []byte(o.OrderID), Value: value,
		// A stable message ID: downstream dedup sees one ID per order.
		Headers: []bulwark.Header{{Key: bulwark.HeaderMessageID, Value: []byte("order-created/" + o.OrderID)}}}

	backoff := 50 * time.Millisecond
	for {
		var err error
		if s.cfg.Outbox != nil {
			err = s.cfg.Outbox.Place(ctx, outbox.Order{OrderID: o.OrderID, CustomerID: o.CustomerID, SKU: o.SKU,
				Quantity: o.Quantity, AmountCents: o.AmountCents}, msg)
		} else {
			err = s.publish(ctx, msg)
		}
		if err == nil {
			s.placed.Add(1)
			if s.cfg.OnPlaced != nil {
				s.cfg.OnPlaced(o)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("order %s: %w (last error: %v)", o.OrderID, ctx.Err(), err)
		}
		s.retried.Add(1)
		s.cfg.Logger.Warn("order: publish failed, retrying", "order_id", o.OrderID, "error", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *Service) publish(ctx context.Context, msg *bulwark.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		_, err := tx.Send(ctx, msg)
		return err
	})
	if errors.Is(err, producer.ErrFenced) || errors.Is(err, producer.ErrFatal) {
		// This producer is done; a fresh one (same ID) takes over.
		_ = s.p.Close()
		p, cerr := s.connect()
		if cerr != nil {
			return errors.Join(err, cerr)
		}
		s.p = p
	}
	return err
}
