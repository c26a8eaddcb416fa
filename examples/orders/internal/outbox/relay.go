package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/producer"
	"go.opentelemetry.io/otel/metric"
)

// Reader reads a topic from its start to its current end (committed
// records only).
type Reader interface {
	Read(ctx context.Context, topic string) ([]*bulwark.Message, error)
}

// RelayConfig configures a relay.
type RelayConfig struct {
	Brokers         []string
	Conn            []conn.Option
	Topic           string // the events to relay (rows of other topics stay)
	Reader          Reader // to reconcile with the topic
	TransactionalID string // default "orders-outbox-relay"
	BatchSize       int    // events per Kafka transaction; default 100
	PollInterval    time.Duration
	Logger          *slog.Logger
	Meter           metric.MeterProvider
}

// Relay moves events from the outbox to Kafka.
type Relay struct {
	store *Store
	cfg   RelayConfig

	relayed    atomic.Int64
	reconciled atomic.Int64
}

// relayLock is the advisory lock key every relay batch holds.
const relayLock = 0x62756c77 // "bulw"

// NewRelay checks cfg; Run connects.
func NewRelay(store *Store, cfg RelayConfig) (*Relay, error) {
	if store == nil || len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Reader == nil {
		return nil, errors.New("outbox: relay needs a store, brokers, a topic and a reader")
	}
	if cfg.TransactionalID == "" {
		cfg.TransactionalID = "orders-outbox-relay"
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{store: store, cfg: cfg}, nil
}

// Relayed returns how many events this relay published.
func (r *Relay) Relayed() int64 { return r.relayed.Load() }

// Reconciled returns how many rows were found already published (a crash
// or failure between the Kafka commit and the delete) and deleted.
func (r *Relay) Reconciled() int64 { return r.reconciled.Load() }

// Run relays until ctx ends. It returns an error only when it cannot
// connect; failures after that are retried.
func (r *Relay) Run(ctx context.Context) error {
	opts := []producer.Option{
		producer.WithConnection(r.cfg.Conn...),
		producer.WithLogger(r.cfg.Logger),
		producer.WithDeliveryTimeout(10 * time.Second),
	}
	if r.cfg.Meter != nil {
		opts = append(opts, producer.WithMeterProvider(r.cfg.Meter))
	}
	// Connecting first fences an older relay with the same ID and settles
	// its open transaction, so the reconcile below sees its final outcome.
	p, err := producer.NewTransactional(r.cfg.Brokers, r.cfg.TransactionalID, opts...)
	if err != nil {
		return err
	}
	defer p.Close()

	reconcile := true
	backoff := r.cfg.PollInterval
	for ctx.Err() == nil {
		n, err := r.batch(ctx, p, reconcile)
		switch {
		case err == nil:
			reconcile, backoff = false, r.cfg.PollInterval
			if n > 0 {
				continue
			}
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, producer.ErrFenced) || errors.Is(err, producer.ErrFatal):
			return err // the supervisor starts a fresh relay
		default:
			r.cfg.Logger.Warn("outbox: relay batch failed; reconciling before the next", "error", err)
			reconcile, backoff = true, min(2*backoff, 2*time.Second)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
	return nil
}

// batch relays up to BatchSize events in one Kafka transaction and
// deletes them, under the relay lock. It reconciles first when asked.
func (r *Relay) batch(ctx context.Context, p *producer.TransactionalProducer, reconcile bool) (int, error) {
	tx, err := r.store.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, relayLock); err != nil {
		return 0, err
	}
	if reconcile {
		if err := r.reconcile(ctx, tx); err != nil {
			return 0, fmt.Errorf("reconcile: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT id, message_id, key, value, headers FROM %s
		WHERE topic = $1 ORDER BY id LIMIT $2`, r.store.events), r.cfg.Topic, r.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	var (
		ids  []int64
		msgs []*bulwark.Message
	)
	for rows.Next() {
		var (
			id      int64
			msgID   string
			headers []byte
			m       = &bulwark.Message{Topic: r.cfg.Topic}
		)
		if err := rows.Scan(&id, &msgID, &m.Key, &m.Value, &headers); err != nil {
			rows.Close()
			return 0, err
		}
		if m.Headers, err = decodeHeaders(headers); err != nil {
			rows.Close()
			return 0, fmt.Errorf("event %d: %w", id, err)
		}
		ids, msgs = append(ids, id), append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(msgs) == 0 {
		return 0, tx.Commit()
	}
	if err := p.InTransaction(ctx, func(ctx context.Context, t *producer.Txn) error {
		for _, m := range msgs {
			t.SendAsync(ctx, m, nil)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE id = ANY($1)`, r.store.events), ids); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	r.relayed.Add(int64(len(msgs)))
	return len(msgs), nil
}

// reconcile deletes the rows whose events are already in the topic.
func (r *Relay) reconcile(ctx context.Context, tx *sql.Tx) error {
	var pending int
	if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE topic = $1`, r.store.events), r.cfg.Topic).Scan(&pending); err != nil {
		return err
	}
	if pending == 0 {
		return nil
	}
	recs, err := r.cfg.Reader.Read(ctx, r.cfg.Topic)
	if err != nil {
		return err
	}
	var published []string
	for _, m := range recs {
		if id := m.MessageID(); id != "" {
			published = append(published, id)
		}
	}
	res, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE topic = $1 AND message_id = ANY($2)`, r.store.events), r.cfg.Topic, published)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		r.reconciled.Add(n)
		r.cfg.Logger.Info("outbox: events found already published, removed from the outbox", "count", n)
	}
	return nil
}
