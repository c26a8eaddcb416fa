package producer

import "github.com/IBM/sarama"

// saramaHook edits the sarama configuration; see [WithSaramaConfig].
type saramaHook = func(*sarama.Config)

// saramaConfig names sarama's configuration for the files that pass it
// on without importing sarama.
type saramaConfig = sarama.Config

// WithSaramaConfig is the escape hatch to sarama settings bulwark does not
// expose. fn runs after the producer's own settings are applied and before
// the result is validated (a setting sarama rejects fails New). Code using
// it depends on sarama's API.
//
// Both producers ([New] and [NewTransactional]) send records with
// bulwark's own engine on sarama's client, so fn reaches the connection
// settings (Net.*: dial, read and write timeouts, keep-alive, TLS, SASL),
// Metadata.*, ClientID, RackID, Version and MetricRegistry, and of the
// Producer settings only Producer.CompressionLevel and, for the
// transactional producer, Producer.Transaction.Timeout (the transaction
// timeout the coordinator enforces, which also bounds each commit and
// abort; [WithTransactionTimeout] sets it) and
// Producer.Transaction.Retry.Max (how often a request to the transaction
// coordinator is retried). It no longer reaches the rest of Producer.*
// nor ChannelBufferSize: Flush.* (use [WithLinger], [WithMaxBatchRecords]),
// MaxMessageBytes ([WithMaxRecordBytes]), Retry.* ([WithRetryBackoff],
// [WithDeliveryTimeout]), Timeout (the request timeout follows the
// delivery timeout), Compression ([WithCompression]), Partitioner (murmur2,
// or [WithManualPartitioning]), Interceptors, Return.*, RequiredAcks and
// Idempotent (always all replicas, always idempotent), ChannelBufferSize
// ([WithMaxBufferedRecords]), Transaction.ID (the transactional ID is
// NewTransactional's argument) and Transaction.Retry.Backoff (coordinator
// retries back off from 10 ms up to the producer's retry backoff);
// Net.MaxOpenRequests does not change the engine's one request in flight
// per broker. Those settings are still validated as before, so an edit
// that would break idempotence (say Net.MaxOpenRequests above 1, or
// Return.Successes off) still fails New and NewTransactional.
func WithSaramaConfig(fn func(*sarama.Config)) Option {
	return func(c *config) error {
		if fn == nil {
			return invalidConfig("sarama config hook is nil")
		}
		c.saramaHooks = append(c.saramaHooks, fn)
		return nil
	}
}

func applySaramaHooks(cfg *sarama.Config, hooks []saramaHook) {
	for _, h := range hooks {
		h(cfg)
	}
}
