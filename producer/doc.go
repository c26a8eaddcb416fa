// Package producer sends records to Kafka with an idempotent producer and,
// for exactly-once pipelines, a transactional one.
//
// # Idempotent producer
//
// [New] returns a producer that is idempotent by default: every record is
// acknowledged by all in-sync replicas, and the producer's internal retries
// (after a leader move, a timeout, a dropped connection) neither duplicate
// nor reorder the records of a partition. Retries are spread over the
// delivery timeout ([WithDeliveryTimeout]). [Producer.Send] waits for the
// acknowledgement and returns the partition and offset; [Producer.SendAsync]
// returns at once and reports the outcome to a callback. Both go through one
// pipeline, so mixing them keeps per-partition order. [Producer.Flush] waits
// for everything sent so far; [Producer.Close] flushes within a bound
// ([WithCloseTimeout]).
//
// New connects eagerly (metadata and a producer ID), so a wrong address
// fails there, within the connect timeout; [NewContext] bounds it by a
// context too. See [New].
//
// # Partitioning
//
// A record with a key goes to murmur2(key) mod partitions, the formula of the
// Java client's default partitioner, so Go and Java services put a key on the
// same partition. A record without a key goes to a random partition.
// Message.Partition is ignored unless [WithManualPartitioning] is given.
//
// # Message IDs
//
// Every record carries a unique message-ID header
// ([github.com/bulwarkgo/bulwark.HeaderMessageID], a random version-4 UUID
// in 22 characters of unpadded base64url) unless the caller set one. It is
// the same on every internal retry. A caller that may resend a record
// itself (say after Send failed with an unknown outcome) should set its
// own ID, so that the resend carries the same one and consumers can drop
// the duplicate.
//
// # Transactions
//
// [NewTransactional] and [TransactionalProducer.InTransaction] run a
// function inside a transaction: commit when it returns nil, abort when it
// returns an error or panics. Errors of the transaction itself are
// [*TxnError] values matching [ErrAbortable] (retry the function), [ErrFenced]
// (another instance took the transactional ID; this producer refuses further
// work; it is bulwark.ErrFenced) or [ErrFatal].
//
// # Telemetry
//
// Each record gets a producer span (OpenTelemetry messaging conventions)
// whose W3C trace context goes into the record's headers, and the producer
// records the metrics named by the Metric constants: OpenTelemetry's
// messaging.client.sent.messages and messaging.client.operation.duration
// (with messaging.system, messaging.client.id, server.address and the
// operation), bulwark.producer.* for the rest; durations in buckets of
// 0.5 ms to 10 s. Providers come from
// [WithTracerProvider] and [WithMeterProvider], falling back to the otel
// globals; logs go to [WithLogger] (default: slog.Default() at WARN and
// above).
//
// Package producertest has recording fakes with the same method sets, for
// unit tests of code that sends records.
package producer
