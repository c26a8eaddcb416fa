// Package consumer runs an at-least-once member of a Kafka consumer group:
// a record's offset is committed only after its handler returned nil or the
// record was written to a dead-letter topic, so a crash, a rebalance or a
// failing handler never loses a record (it may be delivered again).
//
//	c, err := consumer.New(brokers, "billing", []string{"orders"}, handler,
//		consumer.WithKeyOrdering(16),
//		consumer.WithRetry(5, 100*time.Millisecond, 5*time.Second),
//	)
//	err = c.Run(ctx) // until ctx ends
//
// What the consumer does:
//   - Cooperative-sticky rebalancing (sarama's ConsumerGroup); static
//     membership with [WithStaticMembership].
//   - Per-partition order by default; [WithKeyOrdering] runs different keys
//     of a partition in parallel, same keys in order. Completion is tracked
//     per offset: the committed offset never passes the oldest unfinished
//     record.
//   - Batches: [NewBatch] hands a [BatchHandler] up to N records of one
//     partition at a time, or what arrived within a linger time
//     ([WithBatchSize]). A failed batch is retried whole; a [*BatchError]
//     names the failing record (the ones before it are finished), any other
//     error makes the batch's records run one at a time, so only the
//     records that fail alone are dead-lettered.
//   - Non-blocking retries: [WithRetryTopics] moves a record that failed
//     with a retryable error to "<topic>.retry.<n>" topics with growing
//     delays (like Spring Kafka's retryable topics), so the records behind
//     it go on; a retry topic's partition waits for its oldest record by
//     pausing, then the record is handled again, and after the last retry
//     topic it is dead-lettered.
//   - Errors by class (bulwark.ClassOf): retryable errors are retried in
//     place with exponential backoff and jitter, then dead-lettered;
//     permanent errors are dead-lettered at once (default topic
//     "<topic>.dlt", headers bulwark.HeaderDLT*, bulwark.HeaderDLTGroup
//     naming the group: groups reading one topic share its default
//     dead-letter topic); pause-class errors pause
//     the partition, commit nothing, dead-letter nothing and retry the record
//     after the delay, which grows while the pauses go on
//     ([WithPauseDelay], [WithMaxPauseDelay]); a pause starts the record's
//     retry attempts afresh, so a long outage cannot use them up.
//   - A write to a dead-letter or retry topic that fails (the topic is
//     missing, the cluster refuses it) is a dependency fault: the record
//     is not committed, the write is retried with growing delay without
//     running the handler again, using an attempt or dead-lettering, and
//     the partition pauses meanwhile, visible in
//     [PartitionStats].BlockedOn, the bulwark.consumer.partitions.blocked
//     gauge, bulwark.consumer.writes.failed and a WARN line.
//   - Topics are checked: a name Kafka would reject (empty, too long, bad
//     characters; also the derived dead-letter and retry topic names)
//     fails [New]; a subscribed topic that does not exist fails Run with
//     [ErrUnknownTopic], or is waited for, visibly, with
//     [WithWaitForTopics]; a missing dead-letter topic is logged at WARN
//     when Run starts.
//   - Without [WithLogger], WARN and above go to slog.Default().
//   - Isolation level read_committed by default: records of aborted
//     transactions never reach the handler ([WithReadCommitted]).
//   - [WithMaxInFlight] bounds records and bytes handed to handlers; at the
//     limit the partition's fetching pauses. Memory is bounded by that limit
//     plus, per partition, what one fetch returns (sarama's
//     Consumer.Fetch.Default) and sarama's channel buffer.
//   - On revoke or shutdown, records not started are left for the next
//     owner, running ones get [WithGracePeriod] to finish (then their
//     context is cancelled), finished offsets are committed, then the
//     partition is released. After Run's context ends, Run returns within
//     the grace period plus [StopMargin] whatever the network does: final
//     commits and leaving the group get a bounded attempt, then the
//     connections are cut.
//   - [WithRebalanceListener] hears of assigned, revoked and lost
//     partitions: Revoked only after the partition drained and its final
//     commit succeeded, before it is released. [Consumer.Ready] and
//     [Consumer.State] tell a health check whether the member joined and
//     caught up with what its partitions held at assignment.
//   - Replay: [ResetOffsets] moves a stopped group to a time or offsets
//     (a live group fails with [*GroupActiveError]); [WithStartAt]
//     positions partitions assigned without a committed offset.
//   - Offsets are committed every [WithCommitInterval] through a client of
//     their own (on the fetch connection a commit would wait behind a
//     long-poll fetch, up to 500 ms with sarama's defaults), one
//     OffsetCommit request for all of the member's partitions; partitions
//     released together are committed together.
//   - On topics written by transactional producers, a partition idle for a
//     commit interval with its high watermark beyond it is committed past
//     the transaction markers (and, read_committed, aborted records) that
//     follow its last record, found with one fetch that does not wait: a
//     caught-up consumer shows lag 0 in Kafka's tools and in the lag
//     metric, and a partition whose records were all aborted is committed.
//   - A consumer span per record, child of the producer's span found in the
//     headers. Metrics (the Metric constants): OpenTelemetry's messaging
//     metrics messaging.client.consumed.messages, messaging.process.duration
//     (handler calls) and messaging.client.operation.duration (offset
//     commits), durations in buckets of 0.5 ms to 10 s; bulwark.consumer.*
//     for the rest (records failed, paused, retried, dead_lettered;
//     writes.failed, in_flight, lag, partitions.blocked, topics.missing).
//     [Consumer.Stats] for a snapshot.
//
// Package consumertest drives a handler the same way without Kafka.
package consumer
