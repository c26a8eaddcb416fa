// Package payment is the payment service: it consumes inventory.reserved,
// charges each order through the payment gateway and publishes
// payment.completed or payment.failed.
//
// The gateway call is guarded by package resilience (retry, bulkhead,
// circuit breaker, timeout): while the gateway is down the breaker opens and
// the consumer pauses its partitions instead of burning retries or
// dead-lettering records. Package dedup sits in front of the handler, keyed by
// order ID, so a redelivered reservation (after a rebalance or a crash) is
// skipped instead of charged again.
package payment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/examples/orders/gateway"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/bulwarkgo/bulwark/resilience"
	"go.opentelemetry.io/otel/metric"
)

// Charger charges an order; *gateway.Client is one.
type Charger interface {
	Charge(ctx context.Context, orderID string, amountCents int64) (chargeID string, err error)
}

// Config configures the service.
type Config struct {
	Brokers    []string
	Conn       []conn.Option
	Topics     events.Topics
	Codec      events.Codec
	Gateway    Charger
	Policies   *Policies   // shared by restarts, like a process-wide breaker
	DedupStore dedup.Store // shared by every instance
	Calls      *CallLog    // optional, shared by every instance: which gateway calls were cut short
	InstanceID string      // static group member ID; default "payment-1"
	Logger     *slog.Logger
	Meter      metric.MeterProvider
}

// Policies guard the gateway. Build them once per process and share them:
// one breaker per dependency.
type Policies struct {
	Retry    *resilience.Retry
	Bulkhead *resilience.Bulkhead
	Breaker  *resilience.Breaker
	Timeout  *resilience.Timeout
}

// NewPolicies returns the gateway's policies: 3 quick attempts per call, at
// most 8 calls at once, a breaker that opens after 5 failures in a row for
// 1s, and 2s per call.
func NewPolicies(logger *slog.Logger, mp metric.MeterProvider) (*Policies, error) {
	common := []resilience.Option{resilience.WithName("payment-gateway"), resilience.WithLogger(logger)}
	if mp != nil {
		common = append(common, resilience.WithMeterProvider(mp))
	}
	retry, err := resilience.NewRetry(append(retryOpts(common),
		resilience.WithMaxAttempts(3), resilience.WithBackoff(50*time.Millisecond, 500*time.Millisecond, 2))...)
	if err != nil {
		return nil, err
	}
	bulkhead, err := resilience.NewBulkhead(8, bulkheadOpts(common)...)
	if err != nil {
		return nil, err
	}
	breaker, err := resilience.NewBreaker(append(breakerOpts(common),
		resilience.WithConsecutiveFailures(5), resilience.WithOpenDelay(time.Second))...)
	if err != nil {
		return nil, err
	}
	timeout, err := resilience.NewTimeout(2*time.Second, timeoutOpts(common)...)
	if err != nil {
		return nil, err
	}
	return &Policies{Retry: retry, Bulkhead: bulkhead, Breaker: breaker, Timeout: timeout}, nil
}

// The shared options satisfy every policy's option interface; these turn
// the slice into each one's.
func retryOpts(o []resilience.Option) []resilience.RetryOption {
	out := make([]resilience.RetryOption, len(o))
	for i := range o {
		out[i] = o[i]
	}
	return out
}

func bulkheadOpts(o []resilience.Option) []resilience.BulkheadOption {
	out := make([]resilience.BulkheadOption, len(o))
	for i := range o {
		out[i] = o[i]
	}
	return out
}

func breakerOpts(o []resilience.Option) []resilience.BreakerOption {
	out := make([]resilience.BreakerOption, len(o))
	for i := range o {
		out[i] = o[i]
	}
	return out
}

func timeoutOpts(o []resilience.Option) []resilience.TimeoutOption {
	out := make([]resilience.TimeoutOption, len(o))
	for i := range o {
		out[i] = o[i]
	}
	return out
}

// Service is one payment instance.
type Service struct {
	cfg Config
	p   *producer.Producer
}

// New checks cfg.
func New(cfg Config) (*Service, error) {
	if len(cfg.Brokers) == 0 || cfg.Codec == nil || cfg.Gateway == nil || cfg.Policies == nil || cfg.DedupStore == nil {
		return nil, errors.New("payment: Brokers, Codec, Gateway, Policies and DedupStore are required")
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = "payment-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}, nil
}

// Run consumes reservations until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	popts := []producer.Option{producer.WithConnection(s.cfg.Conn...), producer.WithLogger(s.cfg.Logger),
		producer.WithDeliveryTimeout(10 * time.Second)}
	dopts := []dedup.Option{
		// One charge per order, whatever the record's message ID.
		dedup.WithKeyFunc(func(m *bulwark.Message) string { return "payment/" + string(m.Key) }),
		dedup.WithLease(10 * time.Second),
		dedup.WithLogger(s.cfg.Logger),
		dedup.WithName("payment"),
	}
	copts := []consumer.Option{
		consumer.WithReadCommitted(true), // the default; these topics are written in transactions
		consumer.WithConnection(s.cfg.Conn...),
		consumer.WithLogger(s.cfg.Logger),
		consumer.WithKeyOrdering(8), // orders of a partition are charged in parallel
		consumer.WithRetry(8, 100*time.Millisecond, 2*time.Second),
		consumer.WithPauseDelay(500 * time.Millisecond),
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
	// The call log sees the record's outcome after dedup's confirm.
	copts = append(copts, consumer.WithMiddleware(s.cfg.Calls.middleware(), dd.Middleware()))
	c, err := consumer.New(s.cfg.Brokers, "payment", []string{s.cfg.Topics.Reserved()}, bulwark.HandlerFunc(s.handle), copts...)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

func (s *Service) handle(ctx context.Context, m *bulwark.Message) error {
	var r events.InventoryReserved
	if err := s.cfg.Codec.Decode(ctx, m.Topic, m.Value, &r); err != nil {
		return err
	}
	pol := s.cfg.Policies
	chargeID, err := resilience.Get(ctx, func(ctx context.Context) (string, error) {
		s.cfg.Calls.calling(ctx, r.OrderID)
		return s.cfg.Gateway.Charge(ctx, r.OrderID, r.AmountCents)
	}, pol.Retry, pol.Bulkhead, pol.Breaker, pol.Timeout)

	var topic string
	var event any
	switch {
	case err == nil:
		topic, event = s.cfg.Topics.PaymentCompleted(), events.PaymentCompleted{OrderID: r.OrderID, AmountCents: r.AmountCents, ChargeID: chargeID}
	case errors.Is(err, gateway.ErrDeclined):
		topic, event = s.cfg.Topics.PaymentFailed(), events.PaymentFailed{OrderID: r.OrderID, Reason: err.Error()}
	default:
		// Breaker open / bulkhead full: pause class, the consumer pauses.
		// Gateway errors: retryable, the consumer retries, then dead-letters.
		return fmt.Errorf("payment: charge %s: %w", r.OrderID, err)
	}
	v, err := s.cfg.Codec.Encode(ctx, topic, event)
	if err != nil {
		return err
	}
	_, err = s.p.Send(ctx, &bulwark.Message{Topic: topic, Key: []byte(r.OrderID), Value: v,
		Headers: []bulwark.Header{{Key: bulwark.HeaderMessageID, Value: []byte(topic + "/" + r.OrderID)}}})
	return err
}
