// Package produce is bulwark's own produce engine on sarama's wire layer:
// sarama's Client (metadata, leaders, connections) and its protocol types
// (ProduceRequest, RecordBatch, InitProducerID) carry the bytes, while the
// record pipeline is ours. It replaces sarama's async producer, whose four
// goroutine hand-offs per record cost most of its CPU (issue 15).
//
// A record is appended to its partition's open batch under one short lock;
// no goroutine or channel is involved per record. One sender goroutine per
// broker drains the ready batches of the partitions it leads into one
// ProduceRequest at a time, or up to five with WithMaxInFlight (acks=all,
// idempotent record batches with the producer ID, epoch and base
// sequence). A partition has at most one batch in flight either way, so its sequences stay in order across retries and re-routing:
// a retried batch keeps its sequence numbers, and a batch gets its
// sequence only when it is first sent. Completed batches go to one results
// goroutine, which runs the callbacks in order per partition, so user
// callbacks never hold up a sender.
//
// When a partition's sequence state is lost (OUT_OF_ORDER_SEQUENCE_NUMBER,
// UNKNOWN_PRODUCER_ID, or a sent batch of unknown outcome), the
// idempotent engine takes a new producer epoch and every partition starts
// again at sequence 0 (KIP-360, epoch.go); no record is reordered or
// duplicated by it. A transactional engine fails the partition's records
// instead, which makes the transaction abortable, and Abort takes the new
// epoch from the coordinator.
//
// With WithTransactionalID the engine is transactional (txn.go): Begin,
// Produce, AddOffsets, then Commit or Abort. A partition sends nothing
// until AddPartitionsToTxn has put it in the open transaction; Commit
// sends EndTxn once every record is acknowledged. Failures are classified
// (Classify, txn_class.go): the one classification of transactional
// failures, which eos and producer read.
package produce
