package schema_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/schema"
)

// BenchmarkCanonicalForm measures one validated parse of the Order schema
// (goavro's codec and our tree), as CheckCompatibility pays per schema.
func BenchmarkCanonicalForm(b *testing.B) {
	const s = `{"type":"record","name":"Order","namespace":"bench","fields":[
	{"name":"orderId","type":"string"},
	{"name":"customerId","type":"string"},
	{"name":"amount","type":"double"},
	{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
		{"name":"sku","type":"string"},{"name":"qty","type":"int"},{"name":"price","type":"double"}]}}}]}`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := schema.CanonicalForm(s); err != nil {
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
