package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/schema"
	"github.com/linkedin/goavro/v2"
)

const benchOrderSchema = `{"type":"record","name":"Order","namespace":"bench","fields":[
	{"name":"orderId","type":"string"},
	{"name":"customerId","type":"string"},
	{"name":"amount","type":"double"},
	{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
		{"name":"sku","type":"string"},{"name":"qty","type":"int"},{"name":"price","type":"double"}]}}}]}`

type BenchItem struct {
	SKU   string  `avro:"sku"`
	Qty   int32   `avro:"qty"`
	Price float64 `avro:"price"`
}

type BenchOrder struct {
	OrderID    string      `avro:"orderId"`
	CustomerID string      `avro:"customerId"`
	Amount     float64     `avro:"amount"`
	Timestamp  time.Time   `avro:"timestamp"`
	Items      []BenchItem `avro:"items"`
}

var benchOrder = BenchOrder{
	OrderID: "ord-000123456", CustomerID: "cust-987", Amount: 149.97,
	Timestamp: time.UnixMilli(1_700_000_000_000).UTC(),
	Items:     []BenchItem{{"sku-1", 1, 49.99}, {"sku-2", 2, 24.99}, {"sku-3", 1, 49.99}},
}

func benchNative() map[string]any {
	items := make([]any, len(benchOrder.Items))
	for i, it := range benchOrder.Items {
		items[i] = map[string]any{"sku": it.SKU, "qty": it.Qty, "price": it.Price}
	}
	return map[string]any{"orderId": benchOrder.OrderID, "customerId": benchOrder.CustomerID,
		"amount": benchOrder.Amount, "timestamp": benchOrder.Timestamp, "items": items}
}

// BenchmarkOrder compares goavro alone with the serdes (goavro plus
// framing, cache lookups and, for the struct serde, reflection) on the same
// record in the same run. The registry is in memory; after the first call
// no serde makes a request.
func BenchmarkOrder(b *testing.B) {
	_, client := newRegistry(b)
	ctx := context.Background()
	codec := must(goavro.NewCodec(benchOrderSchema))
	native := benchNative()
	mapSerde := must(schema.NewAvroSerde(client, schema.WithSchema(benchOrderSchema)))
	structSerde := must(schema.NewStructSerde[BenchOrder](client, benchOrderSchema))
	framed := must(mapSerde.Serialize(ctx, "orders", false, native))
	body := framed[5:]
	must(mapSerde.Deserialize(ctx, "orders", false, framed)) // warm the caches

	b.Run("op=encode/impl=goavro", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			must(codec.BinaryFromNative(nil, native))
		}
	})
	// goavro given an output buffer of the right size, as the serde sizes
	// its own from the previous record: the fair baseline for the framing
	// and cache cost alone.
	b.Run("op=encode/impl=goavro-presized", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			must(codec.BinaryFromNative(make([]byte, 0, len(body)+5), native))
		}
	})
	b.Run("op=encode/impl=map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			must(mapSerde.Serialize(ctx, "orders", false, native))
		}
	})
	b.Run("op=encode/impl=struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			must(structSerde.Encode(ctx, "orders", false, benchOrder))
		}
	})
	b.Run("op=decode/impl=goavro", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := codec.NativeFromBinary(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=decode/impl=map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			must(mapSerde.Deserialize(ctx, "orders", false, framed))
		}
	})
	b.Run("op=decode/impl=struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			must(structSerde.Decode(ctx, "orders", false, framed))
		}
	})
}

// BenchmarkCanonicalForm measures one parse of the Order schema into the
// tree, as CheckCompatibility pays per schema.
func BenchmarkCanonicalForm(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := schema.CanonicalForm(benchOrderSchema); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSameSchema compares two spellings of the Order schema: the
// client pays one of these parses as its cache key on every Register and
// Lookup.
func BenchmarkSameSchema(b *testing.B) {
	a := schema.Schema{Text: `{"type":"record","name":"Order","fields":[{"name":"orderId","type":"string"},` +
		`{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[{"name":"sku","type":"string"}]}}}]}`}
	c := schema.Schema{Text: `{"name":"Order","type":"record","fields":[{"type":"string","name":"orderId"},` +
		`{"name":"items","type":{"items":{"name":"Item","type":"record","fields":[{"name":"sku","type":"string"}]},"type":"array"}}]}`}
	b.ReportAllocs()
	for b.Loop() {
		if !schema.SameSchema(a, c) {
			b.Fatal("not the same")
		}
	}
}

// BenchmarkStructSerdeFirstRecord measures a new struct serde's setup and
// first record read back: the schema parses (once per text now), the
// resolution plan and the guard; the registry is a map, so no HTTP.
func BenchmarkStructSerdeFirstRecord(b *testing.B) {
	ctx := context.Background()
	reg := &fakeRegistry{byID: map[int]string{1: benchOrderSchema}}
	codec := must(goavro.NewCodec(benchOrderSchema))
	framed := append([]byte{0, 0, 0, 0, 1}, must(codec.BinaryFromNative(nil, benchNative()))...)
	b.ReportAllocs()
	for b.Loop() {
		s := must(schema.NewStructSerde[BenchOrder](reg, benchOrderSchema))
		must(s.Decode(ctx, "orders", false, framed))
	}
}
