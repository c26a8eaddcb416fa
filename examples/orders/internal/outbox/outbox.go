// Package outbox is the order service's transactional outbox in
// PostgreSQL: an order row and its OrderCreated event commit in one
// database transaction ([Store.Place]), and a relay ([Relay]) moves the
// events to Kafka.
//
// The relay publishes exactly once. It sends a batch of outbox rows in a
// Kafka transaction, then deletes the rows. A crash (or an error) between
// the Kafka commit and the delete leaves rows that are already in Kafka,
// so whenever the relay starts or something failed it first reconciles:
// it reads the topic (read_committed) and deletes the rows whose message
// ID is there. Batches hold a PostgreSQL advisory lock, so two relays
// (a crashed one still winding down and its replacement) never work at
// once; the replacement's transactional producer fences the old one's.
package outbox

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"

	"github.com/bulwarkgo/bulwark"
)

// Order is the order row written with its event.
type Order struct {
	OrderID     string
	CustomerID  string
	SKU         string
	Quantity    int32
	AmountCents int64
}

// Store writes orders and their events.
type Store struct {
	db     *sql.DB
	orders string // table names
	events string
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Open creates the tables (prefix+"orders", prefix+"outbox") if missing.
// prefix is a plain SQL identifier prefix such as "shop_".
func Open(ctx context.Context, db *sql.DB, prefix string) (*Store, error) {
	s := &Store{db: db, orders: prefix + "orders", events: prefix + "outbox"}
	if !tableName.MatchString(s.orders) {
		return nil, fmt.Errorf("outbox: table prefix %q is not a plain SQL identifier", prefix)
	}
	ddl := fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s (
	order_id     text PRIMARY KEY,
	customer_id  text NOT NULL,
	sku          text NOT NULL,
	quantity     integer NOT NULL,
	amount_cents bigint NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS %[2]s (
	id         bigserial PRIMARY KEY,
	topic      text NOT NULL,
	message_id text NOT NULL,
	key        bytea,
	value      bytea,
	headers    bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS %[2]s_topic_id ON %[2]s (topic, id);`, s.orders, s.events)
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return nil, fmt.Errorf("outbox: create tables: %w", err)
	}
	return s, nil
}

// Place commits the order row and msg (its event, with a message ID) in
// one transaction. Placing an order that exists already changes nothing
// and returns nil: a retried request does not publish twice.
func (s *Store) Place(ctx context.Context, o Order, msg *bulwark.Message) error {
	id := msg.MessageID()
	if id == "" {
		return errors.New("outbox: the event needs a message ID (the relay reconciles by it)")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("outbox: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	res, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (order_id, customer_id, sku, quantity, amount_cents)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id) DO NOTHING`, s.orders),
		o.OrderID, o.CustomerID, o.SKU, o.Quantity, o.AmountCents)
	if err != nil {
		return fmt.Errorf("outbox: insert order %s: %w", o.OrderID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // placed before
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (topic, message_id, key, value, headers)
		VALUES ($1, $2, $3, $4, $5)`, s.events), msg.Topic, id, msg.Key, msg.Value, encodeHeaders(msg.Headers)); err != nil {
		return fmt.Errorf("outbox: insert event of order %s: %w", o.OrderID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: commit order %s: %w", o.OrderID, err)
	}
	return nil
}

// Pending returns how many events of topic wait for the relay.
func (s *Store) Pending(ctx context.Context, topic string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE topic = $1`, s.events), topic).Scan(&n)
	return n, err
}

// Orders returns how many order rows exist with IDs starting with prefix.
func (s *Store) Orders(ctx context.Context, prefix string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE starts_with(order_id, $1)`, s.orders), prefix).Scan(&n)
	return n, err
}

// Headers are stored in one bytea: per header, the uvarint length of the
// key, the key, the uvarint length of the value, the value.
func encodeHeaders(hs []bulwark.Header) []byte {
	out := []byte{} // not NULL
	for _, h := range hs {
		out = binary.AppendUvarint(out, uint64(len(h.Key)))
		out = append(out, h.Key...)
		out = binary.AppendUvarint(out, uint64(len(h.Value)))
		out = append(out, h.Value...)
	}
	return out
}

func decodeHeaders(raw []byte) ([]bulwark.Header, error) {
	var out []bulwark.Header
	next := func() ([]byte, error) {
		n, w := binary.Uvarint(raw)
		if w <= 0 || uint64(len(raw)-w) < n {
			return nil, errors.New("outbox: corrupt headers")
		}
		b := raw[w : w+int(n)]
		raw = raw[w+int(n):]
		return b, nil
	}
	for len(raw) > 0 {
		k, err := next()
		if err != nil {
			return nil, err
		}
		v, err := next()
		if err != nil {
			return nil, err
		}
		out = append(out, bulwark.Header{Key: string(k), Value: append([]byte(nil), v...)})
	}
	return out, nil
}
