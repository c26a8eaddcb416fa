package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	_ "github.com/jackc/pgx/v5/stdlib"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	db := servicetest.Postgres(t)
	name := servicetest.UniqueName(t, "ob")
	prefix := "ob" + name[len(name)-13:] + "_" // "ob_<12 hex>_": unique, short enough for index names
	s, err := Open(context.Background(), db, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec(`DROP TABLE IF EXISTS ` + strings.Join(s.Tables(), ", "))
	})
	return s
}

func event(topic, orderID string) *bulwark.Message {
	return &bulwark.Message{Topic: topic, Key: []byte(orderID), Value: []byte("created " + orderID),
		Headers: []bulwark.Header{{Key: bulwark.HeaderMessageID, Value: []byte("order-created/" + orderID)}, {Key: "trace", Value: []byte("t1")}}}
}

func place(t *testing.T, s *Store, topic string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		id := fmt.Sprintf("ord-%04d", i)
		if err := s.Place(context.Background(), Order{OrderID: id, CustomerID: "c", SKU: "sku-1", Quantity: 1, AmountCents: 100}, event(topic, id)); err != nil {
			t.Fatal(err)
		}
	}
}

// runRelay runs a relay until the outbox of topic is empty, then stops it.
func runRelay(t *testing.T, r *Relay, s *Store, topic string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := s.Pending(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events still pending after 30s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("relay: %v", err)
	}
}

// exactlyOnce checks that topic holds one event per order ID in ids.
func exactlyOnce(t *testing.T, c *kafkatest.Cluster, topic string, n int) {
	t.Helper()
	recs, err := c.ReadTopic(context.Background(), topic, kafkatest.ReadCommitted())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range recs {
		seen[string(m.Key)]++
		if v, _ := m.Header("trace"); string(v) != "t1" {
			t.Fatalf("event %s lost its headers: %v", m.Key, m.Headers)
		}
	}
	for i := range n {
		id := fmt.Sprintf("ord-%04d", i)
		if seen[id] != 1 {
			t.Fatalf("order %s published %d times", id, seen[id])
		}
	}
	if len(recs) != n {
		t.Fatalf("%d events in %s, want %d", len(recs), topic, n)
	}
}

func TestRelayPublishesEveryOrderOnce(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("orders", 3))
	s := newStore(t)
	place(t, s, "orders", 0, 250)
	place(t, s, "orders", 240, 250) // placed again: no second event
	if n, _ := s.Pending(context.Background(), "orders"); n != 250 {
		t.Fatalf("%d events pending, want 250", n)
	}
	r := NewRelay(s, RelayConfig{Brokers: c.Brokers(), BatchSize: 64, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	runRelay(t, r, s, "orders")
	exactlyOnce(t, c, "orders", 250)
	if n := r.Stats().Published; n != 250 {
		t.Fatalf("relayed %d, want 250", n)
	}
}

func TestPlaceNeedsMessageID(t *testing.T) {
	s := newStore(t)
	err := s.Place(context.Background(), Order{OrderID: "x"}, &bulwark.Message{Topic: "orders"})
	if err == nil {
		t.Fatal("an event without message ID was accepted")
	}
	if n, _ := s.Orders(context.Background(), "x"); n != 0 {
		t.Fatalf("order row written without its event: %d", n)
	}
}
