// Package saga is the order saga's compensation step: a failed payment
// releases the order's reserved stock, by sending inventory.release.
//
// It needs no dedup: the inventory applies a release once per order and
// ignores repeats, so at-least-once delivery is enough here.
package saga

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/producer"
	"go.opentelemetry.io/otel/metric"
)

// Config configures the service.
type Config struct {
	Brokers    []string
	Conn       []conn.Option
	Topics     events.Topics
	Codec      events.Codec
	InstanceID string // default "saga-1"
	Logger     *slog.Logger
	Meter      metric.MeterProvider
}

// Service is one saga instance.
type Service struct {
	cfg Config
	p   *producer.Producer
}

// New checks cfg.
func New(cfg Config) (*Service, error) {
	if len(cfg.Brokers) == 0 || cfg.Codec == nil {
		return nil, errors.New("saga: Brokers and Codec are required")
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = "saga-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}, nil
}

// Run consumes failed payments until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	popts := []producer.Option{producer.WithConnection(s.cfg.Conn...), producer.WithLogger(s.cfg.Logger)}
	copts := []consumer.Option{
		consumer.WithReadCommitted(true), // the default; these topics are written in transactions
		consumer.WithConnection(s.cfg.Conn...),
		consumer.WithLogger(s.cfg.Logger),
		consumer.WithSessionTimeout(6 * time.Second),
		consumer.WithHeartbeatInterval(time.Second),
		consumer.WithStaticMembership(s.cfg.InstanceID),
		consumer.WithGracePeriod(3 * time.Second),
		consumer.WithCommitInterval(500 * time.Millisecond),
	}
	if s.cfg.Meter != nil {
		popts = append(popts, producer.WithMeterProvider(s.cfg.Meter))
		copts = append(copts, consumer.WithMeterProvider(s.cfg.Meter))
	}
	p, err := producer.New(s.cfg.Brokers, popts...)
	if err != nil {
		return err
	}
	defer p.Close()
	s.p = p
	c, err := consumer.New(s.cfg.Brokers, "saga", []string{s.cfg.Topics.PaymentFailed()}, bulwark.HandlerFunc(s.handle), copts...)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

func (s *Service) handle(ctx context.Context, m *bulwark.Message) error {
	var failed events.PaymentFailed
	if err := s.cfg.Codec.Decode(ctx, m.Topic, m.Value, &failed); err != nil {
		return err
	}
	topic := s.cfg.Topics.Release()
	v, err := s.cfg.Codec.Encode(ctx, topic, events.InventoryRelease{OrderID: failed.OrderID, Reason: "payment failed: " + failed.Reason})
	if err != nil {
		return err
	}
	_, err = s.p.Send(ctx, &bulwark.Message{Topic: topic, Key: []byte(failed.OrderID), Value: v})
	return err
}
