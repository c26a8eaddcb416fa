package outbox_test

import (
	"context"
	"database/sql"
	"log"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/outbox"
	"github.com/bulwarkgo/bulwark/producer"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// An order and its OrderCreated event commit in one transaction; the
// relay, running in every instance of the service, publishes the event.
// (It needs PostgreSQL and Kafka, so it has no output to check.)
func Example() {
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	ob, err := outbox.New(outbox.WithTable("orders_outbox"))
	if err != nil {
		log.Fatal(err)
	}
	if err := ob.Migrate(ctx, db); err != nil {
		log.Fatal(err)
	}

	// In the request handler:
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO orders (id, sku) VALUES ($1, $2)", "o-1", "sku-7"); err != nil {
		log.Fatal(err)
	}
	event := &bulwark.Message{Topic: "orders", Key: []byte("o-1"), Value: []byte(`{"type":"OrderCreated"}`)}
	if err := ob.Place(ctx, tx, event); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	// In every instance, once:
	brokers := []string{"127.0.0.1:9092"}
	p, err := producer.New(brokers)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	relay, err := outbox.NewRelay(db, p, brokers, outbox.WithTable("orders_outbox"))
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = relay.Run(ctx) }()
	defer relay.Close()
}
