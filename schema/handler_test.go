package schema_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

type fixedDecoder struct {
	v   Order
	err error
}

func (d fixedDecoder) Decode(context.Context, string, bool, []byte) (Order, error) { return d.v, d.err }

func TestHandlerPassesTheDecodedValue(t *testing.T) {
	ctx := context.Background()
	registry := schematest.NewServer()
	defer registry.Close()
	client, err := schema.NewClient(registry.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	orders, err := schema.NewStructSerde[Order](client, orderSchema)
	if err != nil {
		t.Fatal(err)
	}
	value, err := orders.Encode(ctx, "orders", false, Order{OrderID: "o-1", Amount: 3})
	if err != nil {
		t.Fatal(err)
	}
	var got Order
	h := schema.Handler[Order](orders, func(_ context.Context, msg *bulwark.Message, o Order) error {
		got = o
		return nil
	})
	if err := h.Handle(ctx, &bulwark.Message{Topic: "orders", Value: value}); err != nil {
		t.Fatal(err)
	}
	if got.OrderID != "o-1" || got.Amount != 3 {
		t.Fatalf("handler got %+v", got)
	}

	// Undecodable: permanent, and the handler does not run.
	called := false
	h = schema.Handler[Order](orders, func(context.Context, *bulwark.Message, Order) error { called = true; return nil })
	err = h.Handle(ctx, &bulwark.Message{Topic: "orders", Value: []byte("not avro")})
	if !errors.Is(err, schema.ErrDecode) || bulwark.ClassOf(err) != bulwark.ClassPermanent || called {
		t.Fatalf("undecodable record: %v (class %v), handler called %v", err, bulwark.ClassOf(err), called)
	}
}

func TestHandlerKeepsTheDecodersClass(t *testing.T) {
	down := bulwark.Pause(errors.New("registry down"), 0)
	h := schema.Handler[Order](fixedDecoder{err: down}, func(context.Context, *bulwark.Message, Order) error {
		t.Error("the handler must not run")
		return nil
	})
	if err := h.Handle(context.Background(), &bulwark.Message{Topic: "orders"}); bulwark.ClassOf(err) != bulwark.ClassPause {
		t.Fatalf("got %v of class %v, want pause", err, bulwark.ClassOf(err))
	}
}
