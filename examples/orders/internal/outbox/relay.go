package outbox

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/outbox"
	"github.com/bulwarkgo/bulwark/producer"
	"go.opentelemetry.io/otel/metric"
)

// RelayConfig configures a relay.
type RelayConfig struct {
	Brokers   []string
	Conn      []conn.Option
	BatchSize int // rows per batch; default package outbox's
	Logger    *slog.Logger
	Meter     metric.MeterProvider
}

// deliveryTimeout bounds how long a record handed to the relay's producer
// can still land; takeoverGrace, above it, is how long a relay waits
// before reconciling rows a crashed relay may have sent (package outbox's
// default, 45 s, suits the producer's default timeouts, not a demo).
const (
	deliveryTimeout = 5 * time.Second
	takeoverGrace   = 8 * time.Second
)

// Relay is one instance of package outbox's relay, with its own
// idempotent producer.
type Relay struct {
	store *Store
	cfg   RelayConfig

	mu    sync.Mutex
	relay *outbox.Relay // set by Run
}

// NewRelay returns a relay of s's outbox; Run connects.
func NewRelay(s *Store, cfg RelayConfig) *Relay {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{store: s, cfg: cfg}
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	popts := []producer.Option{
		producer.WithConnection(r.cfg.Conn...),
		producer.WithLogger(r.cfg.Logger),
		producer.WithDeliveryTimeout(deliveryTimeout),
	}
	if r.cfg.Meter != nil {
		popts = append(popts, producer.WithMeterProvider(r.cfg.Meter))
	}
	p, err := producer.New(r.cfg.Brokers, popts...)
	if err != nil {
		return err
	}
	defer p.Close()
	opts := []outbox.Option{
		outbox.WithTable(r.store.ob.Table()),
		outbox.WithConnection(r.cfg.Conn...),
		outbox.WithLogger(r.cfg.Logger),
		outbox.WithTakeoverGrace(takeoverGrace),
	}
	if r.cfg.BatchSize > 0 {
		opts = append(opts, outbox.WithBatchSize(r.cfg.BatchSize))
	}
	relay, err := outbox.NewRelay(r.store.db, p, r.cfg.Brokers, opts...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.relay = relay
	r.mu.Unlock()
	defer relay.Close()
	return relay.Run(ctx)
}

// Stats returns the relay's counters (zero before Run).
func (r *Relay) Stats() outbox.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.relay == nil {
		return outbox.Stats{}
	}
	return r.relay.Stats()
}
