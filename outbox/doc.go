// Package outbox is a transactional outbox in PostgreSQL, through
// database/sql: a service writes the records it must publish to a table in
// the same transaction as its business data ([Outbox.Place]), and a relay
// ([Relay]) publishes them to Kafka with the idempotent producer, in order
// per key, each exactly once, across crashes of the relay, of PostgreSQL
// connections and of Kafka connections.
//
// # The table
//
// [Outbox.Migrate] creates it (table name [WithTable], default
// [DefaultTable]); [Schema] returns the statements for deployments that
// run DDL themselves:
//
//	CREATE TABLE IF NOT EXISTS bulwark_outbox (
//		id         bigserial PRIMARY KEY,  -- publishing order
//		topic      text NOT NULL,
//		message_id text NOT NULL,          -- the record's bulwark-message-id header
//		key        bytea,
//		value      bytea,
//		headers    bytea NOT NULL,         -- the other headers, length-prefixed
//		created_at timestamptz NOT NULL DEFAULT now(),
//		attempted  boolean NOT NULL DEFAULT false  -- handed to the producer, not yet marked
//	);
//	CREATE INDEX IF NOT EXISTS bulwark_outbox_attempted ON bulwark_outbox (id) WHERE attempted;
//	CREATE TABLE IF NOT EXISTS bulwark_outbox_positions (
//		topic       text NOT NULL,
//		partition   integer NOT NULL,
//		next_offset bigint NOT NULL,       -- where the relay's last marked record ends
//		PRIMARY KEY (topic, partition)
//	);
//
// The outbox holds only rows not yet published: the relay deletes a row
// once Kafka acknowledged it. The SQL is PostgreSQL's (advisory locks,
// unnest, ON CONFLICT); any database/sql driver for PostgreSQL works.
//
// # Coordination: one leader, by an advisory lock
//
// Every instance runs a relay; the one holding the session-level advisory
// lock of the table (pg_try_advisory_lock on a connection of its own)
// publishes, the others try again every poll interval. The leader reads
// the oldest rows, publishes them and marks them over that same
// connection, so it publishes only while its session, and therefore the
// lock, is alive; when the connection dies PostgreSQL releases the lock
// and a standby takes over.
//
// SELECT ... FOR UPDATE SKIP LOCKED was the alternative: it spreads rows
// over relays, but two relays then publish rows of one key concurrently,
// and keeping order per key needs per-key locking that costs more than
// one relay's throughput saves (one leader sends thousands of rows a
// second, see the benchmark). Session locks need a session: put the
// relay's pool on a direct connection, or a pooler in session mode, not a
// transaction-mode pooler. The leader keeps one connection of the pool
// for as long as it leads; a standby borrows one briefly per poll.
//
// # Order
//
// Rows are published in row-ID order; the leader sends a batch in waves,
// the n-th wave holding the n-th row of each key, so a row is handed to
// the producer only after every earlier row of its key was acknowledged,
// and one that fails is never overtaken by a later row of its key. Rows
// of one key placed by transactions that follow each other (e.g. both
// update the same business row first) are published in that order.
//
// # Crashes: in doubt, takeover grace and a bounded reconcile
//
// Before sending a batch the leader marks its rows attempted, durably;
// after the acknowledgements it deletes them and records, per partition,
// the offset after the batch's last record (the position), in one
// statement. A relay that dies in between (or whose batch had a failed
// record) leaves attempted rows: in doubt, perhaps in Kafka already.
//
// A leader that finds rows in doubt (at takeover, or after its own failed
// batch) reconciles before it sends anything: it waits the takeover grace
// ([WithTakeoverGrace]) so that whatever any relay handed to a producer
// has landed or failed, then reads each partition of their topics from
// its position to its current end, looking for their message IDs
// ([bulwark.HeaderMessageID], which every published record carries). Rows
// found are marked sent; the others are cleared to be sent again. Only a
// batch acknowledged whole moves the positions, so the range read is what
// was published since the last clean batch: at most one batch, plus what
// other producers wrote to those partitions meanwhile. It never rereads
// the topic from its start (Stats.MaxRecordsRead shows what it read).
// Before the relay first writes to a topic it records the current end of
// each partition as its position.
//
// Rows in doubt are rare, so a clean handover (a relay stopped by its
// context or Close, with PostgreSQL up) costs no grace and no reading.
//
// The grace is what stands between a relay that lost the lock but still
// has records in flight (a zombie: its PostgreSQL connection died, its
// producer did not) and a duplicate. A leader checks its session at least
// every 250 ms while it sends a batch, so a zombie stops handing records
// over within that; what it handed over lands within the producer's
// delivery timeout, or the request timeout of a request on the wire. Set
// the grace above those; a process paused for longer than the grace (a
// stopped VM) can still publish a record twice, which consumers
// deduplicate by message ID (package dedup). The transactional producer
// would fence such a zombie instead; this package uses the idempotent one.
//
// # Failures
//
// PostgreSQL unavailable: the relay stops publishing (the leader's
// connection is gone, and with it the lock), pauses with a backoff
// growing up to [WithRetryBackoff], logs at WARN and shows it in
// [Relay.Stats] (StatePaused, Failures, LastError); no row is dropped.
// Kafka errors: the rows stay in the outbox and are sent again after a
// reconcile. A row Kafka rejects for good (a record above the broker's
// limit) is retried the same way and holds up the relay: Place checks the
// topic name, the application keeps records within the broker's size.
package outbox
