package inventory

import (
	"context"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
)

type emitter struct{ msgs []*bulwark.Message }

func (e *emitter) Emit(m *bulwark.Message) { e.msgs = append(e.msgs, m) }

func newTestService(t *testing.T, units int64) *Service {
	t.Helper()
	s, err := New(Config{Brokers: []string{"unused:9092"}, Codec: events.JSON{}})
	if err != nil {
		t.Fatal(err)
	}
	s.stock.seed("sku-1", units)
	return s
}

func orderMsg(t *testing.T, s *Service, offset int64, id string, qty int32) *bulwark.Message {
	t.Helper()
	v, err := s.cfg.Codec.Encode(context.Background(), "orders", events.OrderCreated{OrderID: id, SKU: "sku-1", Quantity: qty, AmountCents: 100})
	if err != nil {
		t.Fatal(err)
	}
	return &bulwark.Message{Topic: s.cfg.Topics.Orders(), Partition: 0, Offset: offset, Key: []byte(id), Value: v}
}

func topicsOf(e *emitter) []string {
	var out []string
	for _, m := range e.msgs {
		out = append(out, m.Topic+":"+string(m.Key))
	}
	return out
}

// Processing the same record again (an aborted transaction replays it)
// repeats its outputs without reserving twice; a second record about the
// same order (a duplicate publish) changes nothing.
func TestReserveReplayAndDuplicate(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, 5)
	m := orderMsg(t, s, 7, "o1", 3)

	var first, replay, dup emitter
	if err := s.process(ctx, m, &first); err != nil {
		t.Fatal(err)
	}
	if got := s.Available("sku-1"); got != 2 {
		t.Fatalf("available %d after reserving 3 of 5, want 2", got)
	}
	if err := s.process(ctx, m, &replay); err != nil {
		t.Fatal(err)
	}
	if got := s.Available("sku-1"); got != 2 {
		t.Fatalf("available %d after replay, want 2 (no second reservation)", got)
	}
	if a, b := topicsOf(&first), topicsOf(&replay); len(a) != 3 || len(a) != len(b) || a[0] != b[0] {
		t.Fatalf("replay emitted %v, first time %v: want the same three records", b, a)
	}
	if err := s.process(ctx, orderMsg(t, s, 9, "o1", 3), &dup); err != nil {
		t.Fatal(err)
	}
	if len(dup.msgs) != 0 || s.Available("sku-1") != 2 {
		t.Fatalf("duplicate order emitted %v, available %d", topicsOf(&dup), s.Available("sku-1"))
	}

	// Not enough left: rejected, stock unchanged.
	var rej emitter
	if err := s.process(ctx, orderMsg(t, s, 10, "o2", 3), &rej); err != nil {
		t.Fatal(err)
	}
	if rej.msgs[0].Topic != s.cfg.Topics.Rejected() || s.Available("sku-1") != 2 {
		t.Fatalf("o2: emitted %v, available %d; want a rejection and 2", topicsOf(&rej), s.Available("sku-1"))
	}
}

// A release gives the units back once, however often it is delivered.
func TestReleaseOnce(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, 5)
	if err := s.process(ctx, orderMsg(t, s, 1, "o1", 4), &emitter{}); err != nil {
		t.Fatal(err)
	}
	rel := func(offset int64) *bulwark.Message {
		v, _ := s.cfg.Codec.Encode(ctx, "x", events.InventoryRelease{OrderID: "o1"})
		return &bulwark.Message{Topic: s.cfg.Topics.Release(), Offset: offset, Key: []byte("o1"), Value: v}
	}
	for _, off := range []int64{3, 3, 8} { // first, replay, redelivery
		if err := s.process(ctx, rel(off), &emitter{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Available("sku-1"); got != 5 {
		t.Fatalf("available %d after releases, want 5", got)
	}
	v, _ := s.cfg.Codec.Encode(ctx, "x", events.InventoryRelease{OrderID: "nope"})
	err := s.process(ctx, &bulwark.Message{Topic: s.cfg.Topics.Release(), Value: v}, &emitter{})
	if bulwark.ClassOf(err) != bulwark.ClassPermanent {
		t.Fatalf("release of unknown order: %v, want a permanent error", err)
	}
}
