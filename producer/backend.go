package producer

import (
	"context"
	"fmt"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// backend is what the pipeline hands records to: bulwark's produce engine
// for Producer, sarama's AsyncProducer for TransactionalProducer (until the
// engine's transactions replace it). Settling, telemetry and the delivery
// timeout are the pipeline's, the same for both.
type backend interface {
	// enqueue hands r, msg with the added headers after its own, over. It
	// returns once the backend took it (r.Delivered is then called exactly
	// once, later) or with an error (r.Delivered is never called). r is the
	// bound of any wait for room. msg's bytes are shared until r settles.
	enqueue(ctx context.Context, stop <-chan struct{}, r *record, msg *bulwark.Message, added []bulwark.Header) error
	// shutdown settles what was handed over within ctx, then disconnects;
	// records left when ctx ends are settled later, in the background.
	shutdown(ctx context.Context) error
	// done closes once every record handed over has settled and the
	// backend is disconnected.
	done() <-chan struct{}
}

// engineBackend runs records through the produce engine, on a client of
// its own.
type engineBackend struct {
	e      *produce.Connected
	closed chan struct{}
}

// connectEngine connects the engine with the producer's settings mapped
// onto its options; sc is the client's configuration (the escape hatch
// applied), whose compression level is the engine's too.
func connectEngine(ctx context.Context, brokers []string, cfg config, sc *saramaConfig, s conn.Settings) (backend, error) {
	opts := []produce.Option{
		produce.WithLinger(cfg.linger),
		produce.WithDeliveryTimeout(cfg.deliveryTimeout),
		produce.WithRequestTimeout(cfg.requestTimeout()),
		produce.WithRetryBackoff(cfg.retryBackoff),
		produce.WithCloseTimeout(cfg.closeTimeout),
		produce.WithLogger(cfg.logger),
		produce.WithMeterProvider(cfg.meterProvider),
		produce.WithCompression(saramax.Compressions[cfg.compression], sc.Producer.CompressionLevel),
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
	if cfg.manualPartitioning {
		opts = append(opts, produce.WithManualPartitioning())
	}
	e, err := produce.Connect(ctx, brokers, sc, s, opts...)
	if err != nil {
		return nil, err
	}
	return &engineBackend{e: e, closed: make(chan struct{})}, nil
}

func (b *engineBackend) enqueue(ctx context.Context, _ <-chan struct{}, r *record, msg *bulwark.Message, added []bulwark.Header) error {
	// The engine reports every failure, a full buffer's included, through
	// the callback.
	b.e.ProduceWithin(ctx, r.out.Record(msg, added), r.Delivered, r)
	return nil
}

func (b *engineBackend) shutdown(ctx context.Context) error {
	defer close(b.closed)
	// The engine fails what is left when ctx ends (with produce.ErrClosed),
	// and is disconnected when Close returns.
	return b.e.Close(ctx)
}

func (b *engineBackend) done() <-chan struct{} { return b.closed }

// saramaBackend runs records through sarama's AsyncProducer.
type saramaBackend struct{ ap *saramax.AsyncProducer }

// saramaRecord is a record in sarama's form.
type saramaRecord struct {
	out saramax.Outgoing
	r   *record
}

func (s *saramaRecord) Delivered(partition int32, offset int64, err error) {
	s.r.Delivered(partition, offset, err)
}

func (b saramaBackend) enqueue(ctx context.Context, stop <-chan struct{}, r *record, msg *bulwark.Message, added []bulwark.Header) error {
	// A second allocation per record, until this backend goes.
	sr := &saramaRecord{r: r}
	return b.ap.EnqueueWithin(ctx, stop, r, &sr.out, msg, added, sr)
}

func (b saramaBackend) shutdown(ctx context.Context) error {
	b.ap.AsyncClose()
	select {
	case <-b.ap.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w waiting for the client to shut down", ctx.Err())
	}
}

func (b saramaBackend) done() <-chan struct{} { return b.ap.Done() }
