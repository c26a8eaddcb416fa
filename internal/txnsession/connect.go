package txnsession

import (
	"context"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"go.opentelemetry.io/otel/metric"
)

// ConnectProducer connects the engine within ctx and s.ConnectTimeout
// (produce.Connect) and initialises the transactional ID, which fences
// any older producer with the same ID and aborts its open transaction.
// mp receives the client's broker figures (nil: the otel global).
func ConnectProducer(ctx context.Context, brokers []string, cfg *sarama.Config, s conn.Settings, mp metric.MeterProvider) (*Producer, error) {
	timeout := cfg.Producer.Transaction.Timeout
	e, err := produce.Connect(ctx, brokers, cfg, s,
		produce.WithTransactionalID(cfg.Producer.Transaction.ID, timeout),
		produce.WithLinger(cfg.Producer.Flush.Frequency),
		produce.WithRetryBackoff(cfg.Producer.Retry.Backoff),
		// A record not delivered while its transaction may stay open is
		// of no use: the coordinator aborts the transaction by then.
		produce.WithDeliveryTimeout(timeout),
		// Bounded so a producer cut off from the cluster gives up
		// within seconds (see Configs).
		produce.WithTxnRetries(cfg.Producer.Transaction.Retry.Max),
		produce.WithCloseTimeout(timeout),
		produce.WithMeterProvider(mp),
	)
	if err != nil {
		return nil, err
	}
	cut, cutNow := context.WithCancel(context.Background())
	return &Producer{e: e, bound: timeout, cut: cut, cutNow: cutNow}, nil
}
