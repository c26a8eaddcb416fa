// Package shipping is the shipping service: for every payment.completed it
// books a delivery and publishes shipping.scheduled. Dedup keyed by order ID
// keeps a redelivered payment from booking a second delivery.
package shipping

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/dedup"
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
	DedupStore dedup.Store
	InstanceID string // default "shipping-1"
	Logger     *slog.Logger
	Meter      metric.MeterProvider
}

// Service is one shipping instance.
type Service struct {
	cfg Config
	p   *producer.Producer
}

// New checks cfg.
func New(cfg Config) (*Service, error) {
	if len(cfg.Brokers) == 0 || cfg.Codec == nil || cfg.DedupStore == nil {
		return nil, errors.New("shipping: Brokers, Codec and DedupStore are required")
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = "shipping-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}, nil
}

var carriers = []string{"DHL", "UPS", "PostNL", "FedEx"}

// Run consumes payments until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	popts := []producer.Option{producer.WithConnection(s.cfg.Conn...), producer.WithLogger(s.cfg.Logger)}
	dopts := []dedup.Option{
		dedup.WithKeyFunc(func(m *bulwark.Message) string { return "shipping/" + string(m.Key) }),
		dedup.WithLogger(s.cfg.Logger),
		dedup.WithName("shipping"),
	}
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
		dopts = append(dopts, dedup.WithMeterProvider(s.cfg.Meter))
		copts = append(copts, consumer.WithMeterProvider(s.cfg.Meter))
	}
	p, err := producer.New(s.cfg.Brokers, popts...)
	if err != nil {
		return err
	}
	defer p.Close()
	s.p = p
	dd, err := dedup.New(s.cfg.DedupStore, dopts...)
	if err != nil {
		return err
	}
	copts = append(copts, consumer.WithMiddleware(dd.Middleware()))
	c, err := consumer.New(s.cfg.Brokers, "shipping", []string{s.cfg.Topics.PaymentCompleted()}, bulwark.HandlerFunc(s.handle), copts...)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

func (s *Service) handle(ctx context.Context, m *bulwark.Message) error {
	var paid events.PaymentCompleted
	if err := s.cfg.Codec.Decode(ctx, m.Topic, m.Value, &paid); err != nil {
		return err
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(paid.OrderID))
	event := events.ShippingScheduled{
		OrderID:     paid.OrderID,
		Carrier:     carriers[h.Sum32()%uint32(len(carriers))],
		DeliveryDay: time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 2),
	}
	topic := s.cfg.Topics.ShippingScheduled()
	v, err := s.cfg.Codec.Encode(ctx, topic, event)
	if err != nil {
		return err
	}
	_, err = s.p.Send(ctx, &bulwark.Message{Topic: topic, Key: []byte(paid.OrderID), Value: v,
		Headers: []bulwark.Header{{Key: bulwark.HeaderMessageID, Value: []byte(topic + "/" + paid.OrderID)}}})
	return err
}
