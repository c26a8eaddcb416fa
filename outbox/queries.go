package outbox

type queries struct {
	tryLock, pending, hasPositions, attempt, mark, inDoubt, positions, initPosition, settle string
}

func newQueries(t string) queries {
	return queries{
		// Two int4 keys: a space of their own, apart from single-bigint
		// advisory locks the application may take.
		tryLock: `SELECT pg_try_advisory_lock(hashtext('bulwark.outbox'), hashtext($1))`,
		pending: `SELECT id, topic, message_id, key, value, headers FROM ` + t + ` ORDER BY id LIMIT $1`,
		attempt: `UPDATE ` + t + ` SET attempted = true WHERE id = ANY($1::bigint[]) AND NOT attempted`,
		// The data-modifying CTEs run whether or not the INSERT inserts.
		mark: `WITH published AS (DELETE FROM ` + t + ` WHERE id = ANY($1::bigint[])),
unsent AS (UPDATE ` + t + ` SET attempted = false WHERE id = ANY($5::bigint[]))
INSERT INTO ` + t + `_positions AS p (topic, partition, next_offset)
SELECT * FROM unnest($2::text[], $3::integer[], $4::bigint[])
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = GREATEST(p.next_offset, EXCLUDED.next_offset)`,
		inDoubt:      `SELECT id, topic, message_id FROM ` + t + ` WHERE attempted ORDER BY id`,
		positions:    `SELECT partition, next_offset FROM ` + t + `_positions WHERE topic = $1`,
		hasPositions: `SELECT EXISTS (SELECT 1 FROM ` + t + `_positions WHERE topic = $1)`,
		initPosition: `INSERT INTO ` + t + `_positions (topic, partition, next_offset) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		// After a reconcile: rows not found in Kafka are sent again.
		settle: `UPDATE ` + t + ` SET attempted = false WHERE attempted`,
	}
}
