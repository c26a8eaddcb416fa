package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/events"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/gateway"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/projection"
)

// The checks must fail on the violations they are there to catch.
func TestChecksCatchViolations(t *testing.T) {
	ctx := context.Background()
	codec := events.JSON{}
	tp := events.Topics{}
	rec := func(topic, key string, v any) *bulwark.Message {
		b, err := codec.Encode(ctx, topic, v)
		if err != nil {
			t.Fatal(err)
		}
		return &bulwark.Message{Topic: topic, Key: []byte(key), Value: b}
	}
	placed := []events.OrderCreated{
		{OrderID: "a", SKU: "s", Quantity: 2}, // shipped, but charged twice
		{OrderID: "b", SKU: "s", Quantity: 1}, // reserved, never finished
	}
	recs := map[string][]*bulwark.Message{
		tp.Orders():            {rec(tp.Orders(), "a", placed[0]), rec(tp.Orders(), "b", placed[1])},
		tp.Reserved():          {rec(tp.Reserved(), "a", events.InventoryReserved{OrderID: "a"}), rec(tp.Reserved(), "b", events.InventoryReserved{OrderID: "b"})},
		tp.PaymentCompleted():  {rec(tp.PaymentCompleted(), "a", events.PaymentCompleted{OrderID: "a"})},
		tp.ShippingScheduled(): {rec(tp.ShippingScheduled(), "a", events.ShippingScheduled{OrderID: "a"})},
		// Stock says 9 available, but 10 - 2 - 1 held = 7.
		tp.Stock(): {rec(tp.Stock(), events.StockKeySKU("s"), events.StockRecord{SKU: "s", Initial: 10, Available: 9})},
	}
	s := &Summary{}
	err := check(ctx, checkInputs{topics: tp, codec: codec, placed: placed, initial: map[string]int64{"s": 10},
		gateway: gateway.Counts{Charges: map[string]int{"a": 2}}, live: map[string]string{"a": "shipped", "b": "reserved"},
		replayed: projection.NewView()}, recs, s)
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, c := range s.Checks {
		if !c.OK {
			failed[strings.Fields(c.Name)[0]+" "+strings.Fields(c.Name)[1]] = true
		}
	}
	for _, want := range []string{"every order", "stock is", "no payment", "live projection"} {
		if !failed[want] {
			t.Errorf("check %q passed, want it to fail; checks: %+v", want, s.Checks)
		}
	}
	if s.OK() {
		t.Error("summary OK with violations")
	}
}
