package producer

import (
	"context"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// backend is what the pipeline hands records to: bulwark's produce engine,
// on a client of its own, for Producer and TransactionalProducer alike.
// Settling, telemetry and the delivery timeout are the pipeline's.
type backend struct {
	e          *produce.Connected
	txnTimeout time.Duration // a transactional engine's
	closed     chan struct{}
}

// connectEngine connects the engine with the producer's settings mapped
// onto its options; sc is the client's configuration (the escape hatch
// applied), whose compression level and transaction settings are the
// engine's too. A non-empty transactionalID makes the engine
// transactional.
func connectEngine(ctx context.Context, brokers []string, cfg config, sc *saramaConfig, s conn.Settings, transactionalID string) (*backend, error) {
	opts := []produce.Option{
		produce.WithLinger(cfg.linger),
		// The producer reports a record as failed at the delivery timeout
		// (expiry.go: "the record may still be written"); the engine keeps
		// it one request timeout longer, so a broker that answers a held
		// request late still gets the records queued behind it, as they
		// were with sarama, instead of a race between the two deadlines
		// deciding whether they are written.
		produce.WithDeliveryTimeout(cfg.deliveryTimeout + cfg.requestTimeout()),
		produce.WithRequestTimeout(cfg.requestTimeout()),
		produce.WithRetryBackoff(cfg.retryBackoff),
		produce.WithCloseTimeout(cfg.closeTimeout),
		produce.WithLogger(cfg.logger),
		produce.WithMeterProvider(cfg.meterProvider),
		produce.WithCompression(saramax.Compressions[cfg.compression], sc.Producer.CompressionLevel),
	}
	if transactionalID != "" {
		// Commit and abort are bounded by the transactional retries (as
		// they were with sarama's transaction manager), each call also by
		// the transaction timeout (TransactionalProducer.bound).
		opts = append(opts,
			produce.WithTransactionalID(transactionalID, sc.Producer.Transaction.Timeout),
			produce.WithTxnRetries(sc.Producer.Transaction.Retry.Max))
	}
	if cfg.maxBatchRecords > 0 {
		opts = append(opts, produce.WithMaxBatchRecords(cfg.maxBatchRecords))
	}
	if cfg.maxRecordBytes > 0 {
		opts = append(opts, produce.WithMaxRecordBytes(cfg.maxRecordBytes))
	}
	if cfg.maxBufferedRecords > 0 {
		opts = append(opts, produce.WithMaxBufferedRecords(cfg.maxBufferedRecords))
	}
	if cfg.maxRequestBytes > 0 {
		opts = append(opts, produce.WithMaxRequestBytes(cfg.maxRequestBytes))
	}
	if cfg.maxInFlight > 1 {
		opts = append(opts, produce.WithMaxInFlight(cfg.maxInFlight))
		// The engine is idempotent itself and keeps one batch per partition
		// in flight; sarama's flag only configured its AsyncProducer, and
		// its validation (run again by NewClient) would refuse more than
		// one open request per connection with it.
		own := *sc
		own.Producer.Idempotent = false
		own.Net.MaxOpenRequests = max(own.Net.MaxOpenRequests, cfg.maxInFlight)
		sc = &own
	}
	if cfg.manualPartitioning {
		opts = append(opts, produce.WithManualPartitioning())
	}
	e, err := produce.Connect(ctx, brokers, sc, s, opts...)
	if err != nil {
		return nil, err
	}
	return &backend{e: e, txnTimeout: sc.Producer.Transaction.Timeout, closed: make(chan struct{})}, nil
}

// enqueue hands r, msg with the added headers after its own, over: r's
// Delivered is then called exactly once, later, a full buffer's failure
// included. r is the bound of any wait for room. msg's bytes are shared
// until r settles.
func (b *backend) enqueue(ctx context.Context, r *record, msg *bulwark.Message, added []bulwark.Header) {
	b.e.ProduceTo(ctx, r.out.Record(msg, added), r, r)
}

// shutdown settles what was handed over within ctx, then disconnects;
// the engine fails what is left when ctx ends (with produce.ErrClosed),
// and is disconnected when Close returns.
func (b *backend) shutdown(ctx context.Context) error {
	defer close(b.closed)
	return b.e.Close(ctx)
}

// done closes once every record handed over has settled and the backend
// is disconnected.
func (b *backend) done() <-chan struct{} { return b.closed }
