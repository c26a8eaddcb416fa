package schema_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

func record(fields string) string {
	return `{"type":"record","name":"Order","namespace":"shop","fields":[` + fields + `]}`
}

// TestEvolutionMatrix writes with one schema and reads with another, for
// each Avro resolution rule, in both directions where the rule allows.
func TestEvolutionMatrix(t *testing.T) {
	enumABC := `{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"]}}`
	enumAB := `{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}}`
	enumABDefault := `{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","UNKNOWN"],"default":"UNKNOWN"}}`
	cases := []struct {
		name           string
		writer, reader string
		in, want       map[string]any
		wantErr        bool
	}{
		{name: "old writer, new reader: added field takes its default",
			writer: record(`{"name":"id","type":"string"}`),
			reader: record(`{"name":"id","type":"string"},{"name":"customerId","type":"string","default":"unknown"}`),
			in:     map[string]any{"id": "o1"}, want: map[string]any{"id": "o1", "customerId": "unknown"}},
		{name: "new writer, old reader: added field is dropped",
			writer: record(`{"name":"id","type":"string"},{"name":"customerId","type":"string","default":"unknown"}`),
			reader: record(`{"name":"id","type":"string"}`),
			in:     map[string]any{"id": "o1", "customerId": "c9"}, want: map[string]any{"id": "o1"}},
		{name: "old writer, new reader: removed field is dropped",
			writer: record(`{"name":"id","type":"string"},{"name":"legacy","type":"int"}`),
			reader: record(`{"name":"id","type":"string"}`),
			in:     map[string]any{"id": "o1", "legacy": int32(5)}, want: map[string]any{"id": "o1"}},
		{name: "new writer, old reader: removed field takes the old default",
			writer: record(`{"name":"id","type":"string"}`),
			reader: record(`{"name":"id","type":"string"},{"name":"legacy","type":"int","default":-1}`),
			in:     map[string]any{"id": "o1"}, want: map[string]any{"id": "o1", "legacy": int32(-1)}},
		{name: "reader field without default and no writer field fails",
			writer: record(`{"name":"id","type":"string"}`),
			reader: record(`{"name":"id","type":"string"},{"name":"customerId","type":"string"}`),
			in:     map[string]any{"id": "o1"}, wantErr: true},
		{name: "promotions int->long, int->float, int->double, long->float, long->double, float->double",
			writer: record(`{"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"int"},{"name":"d","type":"long"},{"name":"e","type":"long"},{"name":"f","type":"float"}`),
			reader: record(`{"name":"a","type":"long"},{"name":"b","type":"float"},{"name":"c","type":"double"},{"name":"d","type":"float"},{"name":"e","type":"double"},{"name":"f","type":"double"}`),
			in:     map[string]any{"a": int32(7), "b": int32(8), "c": int32(9), "d": int64(10), "e": int64(11), "f": float32(1.5)},
			want:   map[string]any{"a": int64(7), "b": float32(8), "c": float64(9), "d": float32(10), "e": float64(11), "f": float64(1.5)}},
		{name: "reverse promotion long->int fails",
			writer: record(`{"name":"a","type":"long"}`), reader: record(`{"name":"a","type":"int"}`),
			in: map[string]any{"a": int64(1)}, wantErr: true},
		{name: "reverse promotion double->float fails",
			writer: record(`{"name":"a","type":"double"}`), reader: record(`{"name":"a","type":"float"}`),
			in: map[string]any{"a": 1.0}, wantErr: true},
		{name: "string<->bytes",
			writer: record(`{"name":"a","type":"string"},{"name":"b","type":"bytes"}`),
			reader: record(`{"name":"a","type":"bytes"},{"name":"b","type":"string"}`),
			in:     map[string]any{"a": "hi", "b": []byte("yo")}, want: map[string]any{"a": []byte("hi"), "b": "yo"}},
		{name: "old writer, new reader: enum gained a symbol",
			writer: record(enumAB), reader: record(enumABC),
			in: map[string]any{"status": "PAID"}, want: map[string]any{"status": "PAID"}},
		{name: "new writer, old reader: known symbol reads",
			writer: record(enumABC), reader: record(enumAB),
			in: map[string]any{"status": "NEW"}, want: map[string]any{"status": "NEW"}},
		{name: "new writer, old reader: unknown symbol without enum default fails",
			writer: record(enumABC), reader: record(enumAB),
			in: map[string]any{"status": "SHIPPED"}, wantErr: true},
		{name: "new writer, old reader: unknown symbol takes the enum default",
			writer: record(enumABC), reader: record(enumABDefault),
			in: map[string]any{"status": "SHIPPED"}, want: map[string]any{"status": "UNKNOWN"}},
		{name: "union widened: old writer, new reader",
			writer: record(`{"name":"note","type":["null","string"]}`),
			reader: record(`{"name":"note","type":["null","string","long"]}`),
			in:     map[string]any{"note": map[string]any{"string": "x"}}, want: map[string]any{"note": map[string]any{"string": "x"}}},
		{name: "union narrowed: new writer's branch the reader lacks fails",
			writer: record(`{"name":"note","type":["null","string","long"]}`),
			reader: record(`{"name":"note","type":["null","string"]}`),
			in:     map[string]any{"note": map[string]any{"long": int64(3)}}, wantErr: true},
		{name: "union narrowed: a branch both have still reads",
			writer: record(`{"name":"note","type":["null","string","long"]}`),
			reader: record(`{"name":"note","type":["null","string"]}`),
			in:     map[string]any{"note": nil}, want: map[string]any{"note": nil}},
		{name: "plain type becomes nullable",
			writer: record(`{"name":"note","type":"string"}`),
			reader: record(`{"name":"note","type":["null","string"],"default":null}`),
			in:     map[string]any{"note": "x"}, want: map[string]any{"note": map[string]any{"string": "x"}}},
		{name: "nullable becomes plain: a value reads",
			writer: record(`{"name":"note","type":["null","string"]}`),
			reader: record(`{"name":"note","type":"string"}`),
			in:     map[string]any{"note": map[string]any{"string": "x"}}, want: map[string]any{"note": "x"}},
		{name: "nullable becomes plain: null fails",
			writer: record(`{"name":"note","type":["null","string"]}`),
			reader: record(`{"name":"note","type":"string"}`),
			in:     map[string]any{"note": nil}, wantErr: true},
		{name: "int promoted into a union's long branch",
			writer: record(`{"name":"n","type":"int"}`),
			reader: record(`{"name":"n","type":["null","long"],"default":null}`),
			in:     map[string]any{"n": int32(4)}, want: map[string]any{"n": map[string]any{"long": int64(4)}}},
		{name: "nested records in an array gain a field",
			writer: record(`{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[{"name":"sku","type":"string"}]}}}`),
			reader: record(`{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"int","default":1}]}}}`),
			in:     map[string]any{"items": []any{map[string]any{"sku": "a"}, map[string]any{"sku": "b"}}},
			want:   map[string]any{"items": []any{map[string]any{"sku": "a", "qty": int32(1)}, map[string]any{"sku": "b", "qty": int32(1)}}}},
		{name: "map values promoted",
			writer: record(`{"name":"m","type":{"type":"map","values":"int"}}`),
			reader: record(`{"name":"m","type":{"type":"map","values":"double"}}`),
			in:     map[string]any{"m": map[string]any{"x": int32(2)}}, want: map[string]any{"m": map[string]any{"x": float64(2)}}},
		{name: "field renamed with an alias",
			writer: record(`{"name":"customer","type":"string"}`),
			reader: record(`{"name":"customerId","type":"string","aliases":["customer"]}`),
			in:     map[string]any{"customer": "c1"}, want: map[string]any{"customerId": "c1"}},
		{name: "long gains timestamp-millis",
			writer: record(`{"name":"at","type":"long"}`),
			reader: record(`{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}`),
			in:     map[string]any{"at": int64(1500)}, want: map[string]any{"at": time.UnixMilli(1500).UTC()}},
		{name: "complex defaults: record, array, map, nullable",
			writer: record(`{"name":"id","type":"string"}`),
			reader: record(`{"name":"id","type":"string"},
				{"name":"addr","type":{"type":"record","name":"Addr","fields":[{"name":"city","type":"string"}]},"default":{"city":"Ghent"}},
				{"name":"tags","type":{"type":"array","items":"string"},"default":["a"]},
				{"name":"attrs","type":{"type":"map","values":"long"},"default":{"k":3}},
				{"name":"maybe","type":["null","int"],"default":null},
				{"name":"raw","type":"bytes","default":"\u00ff\u0001"}`),
			in: map[string]any{"id": "o1"},
			want: map[string]any{"id": "o1", "addr": map[string]any{"city": "Ghent"}, "tags": []any{"a"},
				"attrs": map[string]any{"k": int64(3)}, "maybe": nil, "raw": []byte{0xff, 0x01}}},
		{name: "record renamed fails",
			writer: `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`,
			reader: `{"type":"record","name":"Purchase","fields":[{"name":"id","type":"string"}]}`,
			in:     map[string]any{"id": "o1"}, wantErr: true},
	}
	_, client := newRegistry(t, schematest.WithCompatibility(schema.CompatNone))
	ctx := context.Background()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topic := fmt.Sprintf("evolution-%d", i)
			writer := must(schema.NewAvroSerde(client, schema.WithSchema(tc.writer)))
			reader := must(schema.NewAvroSerde(client, schema.WithReaderSchema(tc.reader)))
			data := must(writer.Serialize(ctx, topic, false, tc.in))
			got, err := reader.Deserialize(ctx, topic, false, data)
			if tc.wantErr {
				requirePermanentDecode(t, err, schema.ErrMalformedPayload)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("read\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// Struct serdes of two versions of a type read each other's records.
func TestStructEvolutionBothWays(t *testing.T) {
	type OrderV1 struct {
		ID     string  `avro:"id"`
		Amount float32 `avro:"amount"`
		Qty    int32   `avro:"qty"`
		Legacy string  `avro:"legacy"`
	}
	type OrderV2 struct {
		ID         string    `avro:"id"`
		Amount     float64   `avro:"amount"`
		Qty        int64     `avro:"qty"`
		CustomerID *string   `avro:"customerId"`
		Tags       []string  `avro:"tags"`
		At         time.Time `avro:"at"`
	}
	v1 := record(`{"name":"id","type":"string"},{"name":"amount","type":"float"},{"name":"qty","type":"int"},
		{"name":"legacy","type":"string","default":"none"}`)
	v2 := record(`{"name":"id","type":"string"},{"name":"amount","type":"double"},{"name":"qty","type":"long"},
		{"name":"customerId","type":["null","string"],"default":null},
		{"name":"tags","type":{"type":"array","items":"string"},"default":[]},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"},"default":0}`)
	_, client := newRegistry(t, schematest.WithCompatibility(schema.CompatNone))
	ctx := context.Background()
	s1 := must(schema.NewStructSerde[OrderV1](client, v1))
	s2 := must(schema.NewStructSerde[OrderV2](client, v2))

	old := must(s1.Encode(ctx, "orders", false, OrderV1{ID: "o1", Amount: 2.5, Qty: 3, Legacy: "x"}))
	gotNew := must(s2.Decode(ctx, "orders", false, old))
	wantNew := OrderV2{ID: "o1", Amount: 2.5, Qty: 3, Tags: []string{}, At: time.UnixMilli(0).UTC()}
	if !reflect.DeepEqual(gotNew, wantNew) {
		t.Fatalf("old writer, new reader:\n got %+v\nwant %+v", gotNew, wantNew)
	}

	// The reverse is not readable: double and long do not narrow.
	cust := "c1"
	newer := must(s2.Encode(ctx, "orders2", false, OrderV2{ID: "o2", Amount: 1, Qty: 1, CustomerID: &cust, At: time.UnixMilli(5).UTC()}))
	_, err := s1.Decode(ctx, "orders2", false, newer)
	requirePermanentDecode(t, err, schema.ErrMalformedPayload)
	if !errors.Is(err, schema.ErrDecode) {
		t.Fatal(err)
	}
}
