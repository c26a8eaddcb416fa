// Package table keeps a key -> value view of a compacted Kafka topic, as
// Kafka Streams' global tables and Goka's views do: [Open] restores the
// topic into memory and then follows it, and [Writer] (or, in an eos
// handler, [Put] and [Delete]) writes its updates.
//
// # Restore and follow
//
// Each partition is read from its first record with read_committed
// isolation, up to the high watermark it has when the restore starts; the
// table is ready ([Table.Ready], [Table.WaitReady]) once every partition
// got there. Transaction markers and aborted records at the end are
// recognised by asking the broker where the next record a read_committed
// reader gets would be. A transaction open when the restore starts holds
// it up until it commits or aborts, so a ready table reflects every record
// committed before Open; [Progress] shows a partition held (Position below
// RestoreEnd), and a WARN is logged when the wait lasts. Later records are
// applied as they arrive, in offset order per partition. A record's key is
// the table key; a nil value (a tombstone) deletes it, an empty value is a
// value. [WithOnChange] sees every change, restore included.
//
// # Memory
//
// The table holds one entry per live key: the key (a string), a copy of
// the latest value (never a slice of the fetch buffer, which would keep a
// whole response alive), and the decoded value when [WithDecoder] is set.
// Beside the bytes of keys and values that is about 120 bytes per key on
// 64-bit platforms (BenchmarkRestore's B/key: about 230 with 12-byte keys
// and 100-byte values), plus the client's fixed buffers (a fetch per
// partition, up to 4 MiB each).
// Superseded values and deleted keys are garbage as soon as they are
// replaced. Memory is thus bounded by the live keys, not by the topic's
// records; a topic whose live data does not fit in memory needs a
// partitioned table ([NewPartitioned], or [WithPartitions]) on each of
// several instances.
//
// # Partitioned state
//
// A service that scales out over a consumer group keeps the state of its
// input's keys in a compacted topic co-partitioned with the input (same
// partition count, same keyed partitioning), as Kafka Streams does:
// [NewPartitioned] returns a bulwark.RebalanceListener for
// consumer.WithRebalanceListener or eos.WithRebalanceListener that opens
// the table of state partition n when input partition n is assigned, waits
// in Assigned until it is restored (within the callback's time), and closes
// it when the partition is revoked or lost. The handler reads it with
// [Partitioned.Get] or [Partitioned.For] for its record's partition; a
// restore that did not finish in time is logged at WARN and goes on, and
// until then those report [ErrNotReady] in bulwark's pause class rather
// than block, so a handler returning the error pauses the partition. An
// eos session rebalances eagerly, so there every rebalance restores its
// partitions again. See ExampleNewPartitioned.
//
// # Writing
//
// Updates are ordinary keyed records: [Writer] sends them through a
// producer.Sender (the idempotent producer, or a *producer.Txn inside a
// transaction), and [Put] and [Delete] emit them through an eos.Emitter,
// so they commit together with an eos handler's other outputs and input
// offsets.
//
// # Errors
//
// Open fails with a *conn.ConnectError when the cluster cannot be reached
// (bounded by its context and the connect timeout), [ErrUnknownTopic] for
// a missing topic, [ErrInvalidConfig] for bad arguments. After Open the
// table retries by itself: broker errors are retried by the client and
// logged at WARN, a decoder that fails for a reason that is not the
// record's (an unavailable schema registry) is retried and holds its
// partition, and a value the decoder refuses is kept as bytes
// ([DecodeError]).
//
// Partitions added to the topic after Open are not read.
package table
