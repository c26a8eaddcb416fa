package sqlstore_test

import (
	"context"
	"database/sql"
	"log"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/sqlstore"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// A handler whose side effect is a database write: the write and the dedup
// mark commit together, so the side effect happens exactly once. Its
// database errors go through ClassifyError, so that PostgreSQL going down
// pauses the partition rather than using up the record's attempts.
func Example() {
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqlstore.New(ctx, db, sqlstore.WithTable("orders_dedup"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	d, err := dedup.New(store)
	if err != nil {
		log.Fatal(err)
	}
	handler := bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
		lease, _ := dedup.LeaseFrom(ctx)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return sqlstore.ClassifyError(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "INSERT INTO shipments (order_id) VALUES ($1)", string(m.Key)); err != nil {
			return sqlstore.ClassifyError(err)
		}
		if err := store.ConfirmTx(ctx, tx, lease.Key, lease.Token, dedup.DefaultRetention); err != nil {
			return err // already pause-class when PostgreSQL is down
		}
		return sqlstore.ClassifyError(tx.Commit())
	})
	_ = d.Wrap(handler) // hand this to the consumer
}
