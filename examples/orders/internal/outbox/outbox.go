// Package outbox is the order service's side of the transactional outbox:
// an order row and its OrderCreated event commit in one PostgreSQL
// transaction ([Store.Place]). The outbox table, its relay to Kafka and
// the relay's crash handling are bulwark's package outbox; what is here
// is the example's order table and the wiring ([Relay]).
package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/outbox"
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
	ob     *outbox.Outbox
	orders string // the order table
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Open creates the order table (prefix+"orders") and the outbox's tables
// (prefix+"outbox", see package outbox) if missing. prefix is a plain SQL
// identifier prefix such as "shop_".
func Open(ctx context.Context, db *sql.DB, prefix string) (*Store, error) {
	s := &Store{db: db, orders: prefix + "orders"}
	if !tableName.MatchString(s.orders) {
		return nil, fmt.Errorf("outbox: table prefix %q is not a plain SQL identifier", prefix)
	}
	ob, err := outbox.New(outbox.WithTable(prefix + "outbox"))
	if err != nil {
		return nil, err
	}
	s.ob = ob
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %s (
	order_id     text PRIMARY KEY,
	customer_id  text NOT NULL,
	sku          text NOT NULL,
	quantity     integer NOT NULL,
	amount_cents bigint NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now()
)`, s.orders)); err != nil {
		return nil, fmt.Errorf("outbox: create order table: %w", err)
	}
	if err := ob.Migrate(ctx, db); err != nil {
		return nil, err
	}
	return s, nil
}

// Tables returns the tables Open created, to drop them.
func (s *Store) Tables() []string {
	return []string{s.orders, s.ob.Table(), s.ob.Table() + "_positions"}
}

// Place commits the order row and msg (its event) in one transaction.
// Placing an order that exists already changes nothing and returns nil: a
// retried request does not publish twice. msg must carry the order's
// stable message ID (package outbox would make one up), so that
// downstream dedup sees one ID per order.
func (s *Store) Place(ctx context.Context, o Order, msg *bulwark.Message) error {
	if msg.MessageID() == "" {
		return errors.New("outbox: the event needs the order's message ID")
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
	if err := s.ob.Place(ctx, tx, msg); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: commit order %s: %w", o.OrderID, err)
	}
	return nil
}

// Pending returns how many events of topic wait for the relay.
func (s *Store) Pending(ctx context.Context, topic string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE topic = $1`, s.ob.Table()), topic).Scan(&n)
	return n, err
}

// Orders returns how many order rows exist with IDs starting with prefix.
func (s *Store) Orders(ctx context.Context, prefix string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE starts_with(order_id, $1)`, s.orders), prefix).Scan(&n)
	return n, err
}
