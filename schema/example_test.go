package schema_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

type Order struct {
	OrderID    string    `avro:"orderId"`
	CustomerID string    `avro:"customerId"`
	Amount     float64   `avro:"amount"`
	PlacedAt   time.Time `avro:"placedAt"`
	Note       *string   `avro:"note"`
}

const orderSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[
	{"name":"orderId","type":"string"},
	{"name":"customerId","type":"string"},
	{"name":"amount","type":"double"},
	{"name":"placedAt","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"note","type":["null","string"],"default":null}]}`

func Example() {
	ctx := context.Background()
	// An in-memory registry; in production, the registry's URL.
	registry := schematest.NewServer()
	defer registry.Close()
	client, err := schema.NewClient(registry.URL(), schema.WithTimeout(5*time.Second))
	if err != nil {
		panic(err)
	}
	defer client.Close()

	orders, err := schema.NewStructSerde[Order](client, orderSchema)
	if err != nil {
		panic(err)
	}
	value, err := orders.Encode(ctx, "orders", false, Order{
		OrderID: "o-1", CustomerID: "c-7", Amount: 42.5, PlacedAt: time.UnixMilli(1_700_000_000_000).UTC(),
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("wire format: magic %d, schema ID %d, %d bytes\n", value[0], int(value[4]), len(value))

	got, err := orders.Decode(ctx, "orders", false, value)
	if err != nil {
		panic(err)
	}
	fmt.Println(got.OrderID, got.CustomerID, got.Amount, got.PlacedAt.Format(time.RFC3339), got.Note == nil)

	// A record that is not in the wire format is a permanent decode error:
	// a consumer dead-letters it instead of retrying.
	_, err = orders.Decode(ctx, "orders", false, []byte("not avro"))
	fmt.Println(errors.Is(err, schema.ErrDecode), bulwark.ClassOf(err))

	// An incompatible change is refused, with the reasons.
	reasons, _ := schema.CheckCompatibility(schema.CompatBackward,
		`{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"orderId","type":"string"},{"name":"region","type":"string"}]}`,
		orderSchema)
	fmt.Println(reasons)
	// Output:
	// wire format: magic 0, schema ID 1, 28 bytes
	// o-1 c-7 42.5 2023-11-14T22:13:20Z true
	// true permanent
	// [field region added without a default]
}

// Reading records written with an older schema into a newer struct.
func ExampleNewStructSerde_evolution() {
	ctx := context.Background()
	registry := schematest.NewServer()
	defer registry.Close()
	client, _ := schema.NewClient(registry.URL())

	// A producer still on version 1 (no customerId, no note).
	v1 := `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"orderId","type":"string"},{"name":"amount","type":"float"},
		{"name":"placedAt","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"customerId","type":"string","default":"unknown"}]}`
	old, _ := schema.NewAvroSerde(client, schema.WithSchema(v1))
	data, _ := old.Serialize(ctx, "orders", false, map[string]any{
		"orderId": "o-2", "amount": float32(9.5), "placedAt": time.UnixMilli(0).UTC(), "customerId": "c-1"})

	// A consumer on the current schema: amount promoted to double, note defaulted.
	orders, _ := schema.NewStructSerde[Order](client, orderSchema)
	got, err := orders.Decode(ctx, "orders", false, data)
	fmt.Println(got.OrderID, got.CustomerID, got.Amount, got.Note == nil, err)
	// Output: o-2 c-1 9.5 true <nil>
}

// A handler that receives decoded orders.
func ExampleHandler() {
	ctx := context.Background()
	registry := schematest.NewServer()
	defer registry.Close()
	client, err := schema.NewClient(registry.URL())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	orders, err := schema.NewStructSerde[Order](client, orderSchema)
	if err != nil {
		panic(err)
	}
	// Pass h to consumer.New as the handler.
	h := schema.Handler[Order](orders, func(_ context.Context, msg *bulwark.Message, o Order) error {
		fmt.Printf("%s: order %s of %.2f\n", msg.Topic, o.OrderID, o.Amount)
		return nil
	})

	value, _ := orders.Encode(ctx, "orders", false, Order{OrderID: "o-9", Amount: 12.5})
	_ = h.Handle(ctx, &bulwark.Message{Topic: "orders", Value: value})
	// Output:
	// orders: order o-9 of 12.50
}
