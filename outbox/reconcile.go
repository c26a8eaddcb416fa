package outbox

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// reconcile settles the rows in doubt (marked attempted, not marked sent):
// after the takeover grace, so that whatever any relay handed to a
// producer has landed or failed, it reads each of their topics'
// partitions from the position last marked to the current end, marks the
// rows whose message IDs it finds as sent, and clears the rest to be sent
// again. The positions then move to those ends.
func (r *Relay) reconcile(ctx context.Context, c *sql.Conn) error {
	doubt, n, err := r.inDoubt(ctx, c)
	if err != nil || n == 0 {
		return err
	}
	r.setState(StateReconciling)
	r.log.Info("outbox: rows may be in Kafka already; reconciling after the takeover grace",
		"table", r.cfg.table, "rows", n, "grace", r.cfg.takeoverGrace)
	if (clock.Wall{}).Sleep(ctx, r.cfg.takeoverGrace) != nil {
		return nil
	}
	reader, err := r.connectReader(ctx)
	if err != nil {
		return err
	}
	var (
		found []int64
		pos   positions
		read  int
	)
	for topic, ids := range doubt {
		stored, err := r.positions(ctx, c, topic)
		if err != nil {
			return err
		}
		parts, err := reader.Partitions(ctx, topic)
		if err != nil {
			return fmt.Errorf("outbox: reconcile: partitions of %s: %w", topic, err)
		}
		for _, p := range parts {
			oldest, end, err := reader.Offsets(topic, p)
			if err != nil {
				return fmt.Errorf("outbox: reconcile: offsets of %s/%d: %w", topic, p, err)
			}
			from, ok := stored[p]
			if !ok || from < oldest {
				from = oldest // a partition the relay never wrote to
			}
			if from < end {
				got, err := reader.Read(ctx, topic, p, from, end, func(m *bulwark.Message) {
					if id, ok := ids[m.MessageID()]; ok {
						found = append(found, id)
						delete(ids, m.MessageID())
					}
				})
				read += got
				if err != nil {
					return fmt.Errorf("outbox: reconcile: %w", err)
				}
			}
			pos.add(topic, p, end)
		}
	}
	if err := r.settle(ctx, c, found, pos); err != nil {
		return err
	}
	r.update(func(s *Stats) {
		s.State = StateLeader
		s.Reconciles++
		s.Reconciled += int64(len(found))
		s.RecordsRead += int64(read)
		s.MaxRecordsRead = max(s.MaxRecordsRead, int64(read))
	})
	r.log.Info("outbox: reconciled", "table", r.cfg.table, "in_doubt", n, "found_published", len(found), "records_read", read)
	return nil
}

// inDoubt returns the rows marked attempted, by topic and message ID.
func (r *Relay) inDoubt(ctx context.Context, c *sql.Conn) (map[string]map[string]int64, int, error) {
	rs, err := c.QueryContext(ctx, r.q.inDoubt)
	if err != nil {
		return nil, 0, dbErr("read rows in doubt", err)
	}
	defer rs.Close()
	out := map[string]map[string]int64{}
	n := 0
	for rs.Next() {
		var (
			id           int64
			topic, msgID string
		)
		if err := rs.Scan(&id, &topic, &msgID); err != nil {
			return nil, 0, dbErr("read rows in doubt", err)
		}
		if out[topic] == nil {
			out[topic] = map[string]int64{}
		}
		out[topic][msgID] = id
		n++
	}
	if err := rs.Err(); err != nil {
		return nil, 0, dbErr("read rows in doubt", err)
	}
	return out, n, nil
}

func (r *Relay) positions(ctx context.Context, c *sql.Conn, topic string) (map[int32]int64, error) {
	rs, err := c.QueryContext(ctx, r.q.positions, topic)
	if err != nil {
		return nil, dbErr("read positions", err)
	}
	defer rs.Close()
	out := map[int32]int64{}
	for rs.Next() {
		var (
			p    int32
			next int64
		)
		if err := rs.Scan(&p, &next); err != nil {
			return nil, dbErr("read positions", err)
		}
		out[p] = next
	}
	if err := rs.Err(); err != nil {
		return nil, dbErr("read positions", err)
	}
	return out, nil
}

// settle marks found as sent, moves the positions and clears the other
// rows in doubt, in one transaction.
func (r *Relay) settle(ctx context.Context, c *sql.Conn, found []int64, pos positions) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("settle rows in doubt", err)
	}
	defer func() { _ = tx.Rollback() }()
	if found == nil {
		found = []int64{}
	}
	if _, err := tx.ExecContext(ctx, r.q.mark, found, pos.topics, pos.partitions, pos.offsets, []int64{}); err != nil {
		return dbErr("settle rows in doubt", err)
	}
	if _, err := tx.ExecContext(ctx, r.q.settle); err != nil {
		return dbErr("settle rows in doubt", err)
	}
	return dbErr("settle rows in doubt", tx.Commit())
}

// ensurePositions records, for each topic of rows that has none yet, the
// current end of every partition, before the relay first writes to it:
// the start of what a reconcile reads. A topic that does not exist yet
// gets none (its partitions are read from their start).
func (r *Relay) ensurePositions(ctx context.Context, c *sql.Conn, rows []row) error {
	for _, rw := range rows {
		topic := rw.msg.Topic
		if r.initialized[topic] {
			continue
		}
		var exists bool
		if err := c.QueryRowContext(ctx, r.q.hasPositions, topic).Scan(&exists); err != nil {
			return dbErr("read positions", err)
		}
		if !exists {
			reader, err := r.connectReader(ctx)
			if err != nil {
				return err
			}
			parts, err := reader.Partitions(ctx, topic)
			if err != nil {
				return fmt.Errorf("outbox: partitions of %s: %w", topic, err)
			}
			if len(parts) == 0 {
				continue
			}
			for _, p := range parts {
				_, end, err := reader.Offsets(topic, p)
				if err != nil {
					return fmt.Errorf("outbox: offsets of %s/%d: %w", topic, p, err)
				}
				if _, err := c.ExecContext(ctx, r.q.initPosition, topic, p, end); err != nil {
					return dbErr("record positions", err)
				}
			}
		}
		r.initialized[topic] = true
	}
	return nil
}

func (r *Relay) connectReader(ctx context.Context) (*saramax.Reader, error) {
	if r.reader != nil {
		return r.reader, nil
	}
	t, err := saramax.ConnectReader(ctx, r.brokers, r.settings, saramax.ReaderConfig{})
	if err != nil {
		return nil, fmt.Errorf("outbox: connect to Kafka to reconcile: %w", err)
	}
	// sarama's calls take no context: cutting the connections is what
	// ends one in progress when ctx (Run's) ends.
	r.stopAbort = context.AfterFunc(ctx, t.Abort)
	r.reader = t
	return t, nil
}
