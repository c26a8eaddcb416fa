// Package eos runs exactly-once read-process-write pipelines on Kafka:
// consume input topics, let a [Handler] turn each record into zero or more
// output records, and commit the outputs together with the consumed offsets
// in one Kafka transaction per batch. Readers with isolation level
// read_committed see every input's outputs exactly once, whatever crashes,
// rebalances and broker errors happen in between.
//
// # How it works
//
//   - One consumer-group member and one transactional producer per [Session]
//     instance. The transactional ID is prefix + "-" + instance ID
//     ([WithInstanceID]).
//   - Inputs are read with read_committed. A batch closes at [WithBatchSize]
//     records or after [WithBatchInterval]; its outputs and the next offsets
//     go into one transaction, the offsets with the consumer-group metadata
//     (generation, member ID, group instance ID; KIP-447), so the broker
//     rejects the commit of a member whose partitions moved on (a zombie).
//     An input partition idle at its committed offset with its high
//     watermark beyond it (transaction markers, aborted records of another
//     transactional producer) is committed past them, in the open
//     transaction or in one holding only offsets, so a caught-up session's
//     committed offsets are the end offsets.
//   - Rebalancing is eager: a rebalance ends the generation, and the open
//     transaction is aborted (or an EndTxn in flight completes) before any
//     partition is released. Nothing is committed after the generation
//     ended. The cooperative protocol was not used because a transaction
//     would then span generations, and its metadata could vouch for
//     partitions already revoked.
//   - [WithRebalanceListener] hears of each generation's partitions:
//     Assigned before their records are processed, Revoked (or Lost)
//     after the open transaction ended. [Session.Ready] and
//     [Session.State] tell a health check whether the session joined and
//     committed up to what its partitions held at assignment.
//   - A new owner starts only from stable offsets: it fetches committed
//     offsets with RequireStable and waits while a transaction of the
//     previous owner is pending.
//   - Any failure of a transaction aborts it; its input records are kept in
//     memory, so "rewinding to the committed offsets" is processing them
//     again. A commit whose outcome is unknown (EndTxn failed after it may
//     have arrived) is aborted and checked against the stable committed
//     offsets; it is never assumed committed. When the broker refuses that
//     abort because the commit did land (its answer was lost), the stable
//     offsets show it: it counts as committed, its records are not
//     processed again, and Run goes on with a fresh producer (sarama's is
//     unusable after the refused abort).
//   - A fenced producer stops [Session.Run] with a [*FencedError] (matching
//     [ErrFenced], which is bulwark.ErrFenced); a producer
//     in a fatal state with a [*ProducerError]. [WithAutoRestart] starts a
//     fresh producer instead.
//   - The transaction timeout must be below the session timeout (checked by
//     [New]): a crashed member's transaction is aborted by the broker before
//     its partitions are handed on.
//
// Handler errors follow the bulwark classes: permanent errors dead-letter
// the input inside the same transaction; retryable ones abort and retry the
// batch with backoff up to [WithMaxAttempts], then dead-letter; pause-class
// errors abort and retry after the pause delay. A dead letter carries the
// input's key, value and headers plus the bulwark.HeaderDLT* headers,
// bulwark.HeaderDLTGroup naming the session's group: groups reading the
// same input topic share its default dead-letter topic, and that header
// tells their dead letters apart ([WithDeadLetterTopic] gives a group its
// own).
//
// Telemetry: one span per transaction, linked to the input records' spans
// (W3C trace context in their headers), which outputs carry on. Metrics:
// messaging.process.duration (handler calls, OpenTelemetry's messaging
// convention), bulwark.eos.commits, bulwark.eos.aborts (attribute reason),
// bulwark.eos.fenced (attribute kind: producer or group),
// bulwark.eos.dead_lettered, bulwark.eos.unstable_offset_fetches,
// bulwark.eos.transaction.records and bulwark.eos.commit.duration (the
// Metric constants); [Session.Stats] for a snapshot of the same totals.
//
// Kafka 2.5.0 or newer is required.
package eos
