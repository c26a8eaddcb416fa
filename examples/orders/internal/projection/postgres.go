package projection

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"time"
)

// PGStore keeps the order view in a PostgreSQL table, so that other
// programs (reports, a BI tool) can query it and the HTTP endpoints read
// it from there. The projection still derives each order's status from
// its facts in memory and writes the result here, one row per order.
type PGStore struct {
	db    *sql.DB
	table string
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// OpenPG creates the view table if missing.
func OpenPG(ctx context.Context, db *sql.DB, table string) (*PGStore, error) {
	if !identifier.MatchString(table) {
		return nil, fmt.Errorf("projection: table %q is not a plain SQL identifier", table)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	order_id     text PRIMARY KEY,
	customer_id  text NOT NULL,
	sku          text NOT NULL,
	quantity     integer NOT NULL,
	amount_cents bigint NOT NULL,
	status       text NOT NULL,
	charge_id    text NOT NULL,
	carrier      text NOT NULL,
	reason       text NOT NULL,
	updated_at   timestamptz NOT NULL
)`, table)); err != nil {
		return nil, fmt.Errorf("projection: create %s: %w", table, err)
	}
	return &PGStore{db: db, table: table}, nil
}

const orderColumns = `order_id, customer_id, sku, quantity, amount_cents, status, charge_id, carrier, reason, updated_at`

// upsert writes o's row. Rows are whole derived states, so writing one
// again (a redelivered event) changes nothing.
func (s *PGStore) upsert(ctx context.Context, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, o Order) error {
	_, err := q.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (%s) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (order_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, sku = EXCLUDED.sku,
		quantity = EXCLUDED.quantity, amount_cents = EXCLUDED.amount_cents, status = EXCLUDED.status,
		charge_id = EXCLUDED.charge_id, carrier = EXCLUDED.carrier, reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at`,
		s.table, orderColumns),
		o.OrderID, o.CustomerID, o.SKU, o.Quantity, o.AmountCents, o.Status, o.ChargeID, o.Carrier, o.Reason, o.UpdatedAt)
	return err
}

// replaceAll swaps the table's content for orders in one transaction.
func (s *PGStore) replaceAll(ctx context.Context, orders []Order) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.table); err != nil {
		return err
	}
	for _, o := range orders {
		if err := s.upsert(ctx, tx, o); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Get returns one order's row.
func (s *PGStore) Get(ctx context.Context, id string) (Order, bool, error) {
	list, err := s.query(ctx, "WHERE order_id = $1", id)
	if err != nil || len(list) == 0 {
		return Order{}, false, err
	}
	return list[0], true, nil
}

// List returns the orders with status (all when ""), by ID.
func (s *PGStore) List(ctx context.Context, status string) ([]Order, error) {
	if status == "" {
		return s.query(ctx, "ORDER BY order_id")
	}
	return s.query(ctx, "WHERE status = $1 ORDER BY order_id", status)
}

// Counts returns the number of orders per status.
func (s *PGStore) Counts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf("SELECT status, count(*) FROM %s GROUP BY status", s.table))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			status string
			n      int
		)
		if err := rows.Scan(&status, &n); err != nil {
			return nil, err
		}
		out[status] = n
	}
	return out, rows.Err()
}

func (s *PGStore) query(ctx context.Context, where string, args ...any) ([]Order, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s %s", orderColumns, s.table, where), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		var (
			o  Order
			at time.Time
		)
		if err := rows.Scan(&o.OrderID, &o.CustomerID, &o.SKU, &o.Quantity, &o.AmountCents, &o.Status,
			&o.ChargeID, &o.Carrier, &o.Reason, &at); err != nil {
			return nil, err
		}
		o.UpdatedAt = at.UTC()
		out = append(out, o)
	}
	return out, rows.Err()
}
