package produce

import (
	"context"
	"sync"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"go.opentelemetry.io/otel/metric"
)

// Connected is an engine on a sarama client of its own, made by Connect.
// Close closes the engine, then the client.
type Connected struct {
	*Engine
	client  sarama.Client
	aborter *saramax.Aborter
	// stopMetrics ends the reporting of the client's broker figures.
	stopMetrics func()
	closeOnce   sync.Once
}

// Connect connects a client to brokers with cfg, whose validation is the
// caller's, and starts an engine on it with opts. Connecting (metadata and
// the producer ID) is bounded by ctx and s.ConnectTimeout, with errors
// explained, as [saramax.Connect] says. The client's connections go through
// an [saramax.Aborter] that Close uses once its bound is spent (see
// [WithAbort]), so Close is bounded even with a broker that never answers.
func Connect(ctx context.Context, brokers []string, cfg *sarama.Config, s conn.Settings, opts ...Option) (*Connected, error) {
	own := *cfg
	aborter := saramax.MakeAbortable(&own)
	opts = append(opts[:len(opts):len(opts)], WithAbort(aborter.Abort))
	return saramax.Connect(ctx, brokers, &own, s, func(cut *sarama.Config) (*Connected, error) {
		client, err := sarama.NewClient(brokers, cut)
		if err != nil {
			return nil, err
		}
		stopMetrics, err := saramax.BridgeMetrics(client, brokers, meterProvider(opts))
		if err != nil {
			_ = client.Close()
			return nil, err
		}
		e, err := NewContext(ctx, client, opts...)
		if err != nil {
			_ = client.Close()
			stopMetrics()
			return nil, err
		}
		return &Connected{Engine: e, client: client, aborter: aborter, stopMetrics: stopMetrics}, nil
	}, func(c *Connected) { _ = c.Close(context.Background()) })
}

// Close closes the engine (see [Engine.Close]), then the client. It is
// idempotent; later calls return the engine's first result.
func (c *Connected) Close(ctx context.Context) error {
	err := c.Engine.Close(ctx)
	c.closeOnce.Do(func() {
		if cerr := c.client.Close(); cerr != nil {
			c.log.Debug("produce: closing the client", "error", cerr)
		}
		c.stopMetrics()
	})
	return err
}

// Cut cuts every connection of the client at once and refuses new ones:
// requests in flight fail, and their records with them by the delivery
// timeout or Close, whichever comes first. For an owner out of time to
// stop; Close still has to be called. (Not named Abort: that is
// [Engine.Abort], which aborts the open transaction.)
func (c *Connected) Cut() { c.aborter.Abort() }

// meterProvider returns the meter provider opts set, for Connect, which
// bridges the client's metrics before the engine reads its options.
func meterProvider(opts []Option) metric.MeterProvider {
	var o options
	for _, opt := range opts {
		_ = opt(&o) // errors are NewContext's to report
	}
	return o.meterProvider
}
