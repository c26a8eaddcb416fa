// Package dedup makes a consumer's side effects happen once per record
// although Kafka delivers at least once: the idempotent-consumer pattern as
// a [bulwark.Middleware].
//
// A [Deduplicator] claims each record's dedup key (its message-ID header,
// or a business key from [WithKeyFunc]; for a record from a producer that
// sets no message ID, [OffsetKey], its topic/partition/offset, which still
// drops redeliveries) in a [Store] with a short lease
// before the handler runs, confirms it for a retention period when the
// handler succeeds, and releases it when the handler fails. A key already
// confirmed is a duplicate: the handler is skipped and the record counts as
// finished. A key leased by another consumer is waited on; see
// [Deduplicator] for every case and its error class.
//
// A store outage never dead-letters a record: an unavailable store
// ([ErrUnavailable], [IsUnavailable]) makes the middleware return a
// pause-class error, so the consumer pauses the partition and resumes it
// when the store is back. The Redis and SQL store constructors check that
// the server answers and fail with an [UnavailableError] when it does not.
//
// Stores:
//   - [Memory] (this package): bounded, LRU, per process.
//   - redisstore: Redis, shared by consumers and kept across their restarts.
//   - sqlstore: PostgreSQL through database/sql, with ConfirmTx to commit
//     the dedup mark in the handler's own transaction (exactly-once side
//     effects in that database).
//
// Package deduptest holds the conformance suite every store passes.
//
// Metrics (through [WithMeterProvider], default the otel global):
// bulwark.dedup.claims, .duplicates, .conflicts, .store_errors, .unkeyed,
// .fallback_keys.
package dedup
