package avro

import (
	"testing"
	"time"
)

// BenchmarkGuardOrder measures the pre-decode scan alone on the Order
// record of BenchmarkOrder: the part of Deserialize's overhead over goavro
// that is not a cache lookup.
func BenchmarkGuardOrder(b *testing.B) {
	const s = `{"type":"record","name":"Order","namespace":"bench","fields":[
	{"name":"orderId","type":"string"},
	{"name":"customerId","type":"string"},
	{"name":"amount","type":"double"},
	{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
		{"name":"sku","type":"string"},{"name":"qty","type":"int"},{"name":"price","type":"double"}]}}}]}`
	c, err := Compile(s)
	if err != nil {
		b.Fatal(err)
	}
	item := map[string]any{"sku": "sku-1", "qty": 1, "price": 49.99}
	body, err := c.Codec.BinaryFromNative(nil, map[string]any{"orderId": "ord-000123456", "customerId": "cust-987",
		"amount": 149.97, "timestamp": time.UnixMilli(1_700_000_000_000), "items": []any{item, item, item}})
	if err != nil {
		b.Fatal(err)
	}
	g := NewGuard(c.Type)
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Check(body); err != nil {
			b.Fatal(err)
		}
	}
}
