package avrobench

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/schema"
	hamba "github.com/hamba/avro/v2"
)

// The record of schema's BenchmarkOrder: two strings, a double, a
// timestamp and an array of three small records.
const orderSchema = `{"type":"record","name":"Order","namespace":"bench","fields":[
	{"name":"orderId","type":"string"},
	{"name":"customerId","type":"string"},
	{"name":"amount","type":"double"},
	{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
		{"name":"sku","type":"string"},{"name":"qty","type":"int"},{"name":"price","type":"double"}]}}}]}`

type item struct {
	SKU   string  `avro:"sku"`
	Qty   int32   `avro:"qty"`
	Price float64 `avro:"price"`
}

type order struct {
	OrderID    string    `avro:"orderId"`
	CustomerID string    `avro:"customerId"`
	Amount     float64   `avro:"amount"`
	Timestamp  time.Time `avro:"timestamp"`
	Items      []item    `avro:"items"`
}

var rec = order{
	OrderID: "ord-000123456", CustomerID: "cust-987", Amount: 149.97,
	Timestamp: time.UnixMilli(1_700_000_000_000).UTC(),
	Items:     []item{{"sku-1", 1, 49.99}, {"sku-2", 2, 24.99}, {"sku-3", 1, 49.99}},
}

// oneSchema is a registry holding orderSchema as ID 1.
type oneSchema struct{}

func (oneSchema) Register(context.Context, string, schema.Schema) (int, error) { return 1, nil }
func (oneSchema) Lookup(context.Context, string, schema.Schema) (schema.Schema, error) {
	return schema.Schema{ID: 1, Text: orderSchema}, nil
}
func (oneSchema) SchemaByID(context.Context, int) (schema.Schema, error) {
	return schema.Schema{ID: 1, Text: orderSchema}, nil
}
func (oneSchema) LatestSchema(context.Context, string) (schema.Schema, error) {
	return schema.Schema{ID: 1, Text: orderSchema}, nil
}

// hambaFrame is the same wire format done with hamba: header, then
// hamba's encoding; decode checks the header and reads into the struct.
func hambaEncode(s hamba.Schema, v order) ([]byte, error) {
	body, err := hamba.Marshal(s, v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(out[1:], 1)
	return append(out, body...), nil
}

func BenchmarkDecode(b *testing.B) {
	ctx := context.Background()
	serde, err := schema.NewStructSerde[order](oneSchema{}, orderSchema)
	if err != nil {
		b.Fatal(err)
	}
	framed, err := serde.Encode(ctx, "orders", false, rec)
	if err != nil {
		b.Fatal(err)
	}
	hs, err := hamba.Parse(orderSchema)
	if err != nil {
		b.Fatal(err)
	}
	hframed, err := hambaEncode(hs, rec)
	if err != nil {
		b.Fatal(err)
	}
	// The encodings may differ in array blocking; each must read the
	// other's bytes as the same record.
	var cross order
	if err := hamba.Unmarshal(hs, framed[5:], &cross); err != nil || !cross.Timestamp.Equal(rec.Timestamp) || len(cross.Items) != 3 || cross.OrderID != rec.OrderID {
		b.Fatalf("hamba reads goavro's record as %+v, %v", cross, err)
	}
	if back, err := serde.Decode(ctx, "orders", false, hframed); err != nil || back.Items[2] != rec.Items[2] {
		b.Fatalf("the serde reads hamba's record as %+v, %v", back, err)
	}
	b.Run("bulwark-struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := serde.Decode(ctx, "orders", false, framed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hamba-struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var got order
			if framed[0] != 0 || binary.BigEndian.Uint32(framed[1:5]) != 1 {
				b.Fatal("header")
			}
			if err := hamba.Unmarshal(hs, framed[5:], &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	ctx := context.Background()
	serde, err := schema.NewStructSerde[order](oneSchema{}, orderSchema)
	if err != nil {
		b.Fatal(err)
	}
	hs, err := hamba.Parse(orderSchema)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("bulwark-struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := serde.Encode(ctx, "orders", false, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hamba-struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := hambaEncode(hs, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
