package schema_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

const goldenSchema = `{"type":"record","name":"Golden","namespace":"test","fields":[
	{"name":"id","type":"long"},
	{"name":"name","type":"string"},
	{"name":"ok","type":"boolean"}]}`

// The expected bytes are worked out by hand from the Avro specification:
// long -65 zigzags to 129 = 0x81 0x01 as a varint; the string "ab" is its
// length 2 (zigzag 4 = 0x04) then 0x61 0x62; true is 0x01. The header is
// the magic byte 0 and the schema ID in 4 bytes big-endian.
func TestGoldenWireFormat(t *testing.T) {
	body := []byte{0x81, 0x01, 0x04, 0x61, 0x62, 0x01}
	for _, tc := range []struct {
		name   string
		id     int
		header []byte
	}{
		{"small ID", 42, []byte{0x00, 0x00, 0x00, 0x00, 0x2a}},
		// 16909060 = 0x01020304, above 2^24 = 16777216: all four ID bytes matter.
		{"ID above 2^24", 16909060, []byte{0x00, 0x01, 0x02, 0x03, 0x04}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, client := newRegistry(t, schematest.WithFirstID(tc.id))
			ctx := context.Background()
			serde := must(schema.NewAvroSerde(client, schema.WithSchema(goldenSchema)))
			got := must(serde.Serialize(ctx, "golden", false, map[string]any{"id": int64(-65), "name": "ab", "ok": true}))
			want := append(append([]byte{}, tc.header...), body...)
			if !bytes.Equal(got, want) {
				t.Fatalf("wire bytes\n got % x\nwant % x", got, want)
			}
			// And the hand-made bytes decode back.
			v := must(serde.Deserialize(ctx, "golden", false, want))
			m := v.(map[string]any)
			if m["id"] != int64(-65) || m["name"] != "ab" || m["ok"] != true {
				t.Fatalf("decoded %v", m)
			}
			// The struct serde writes the same bytes.
			type golden struct {
				ID   int64  `avro:"id"`
				Name string `avro:"name"`
				OK   bool   `avro:"ok"`
			}
			ss := must(schema.NewStructSerde[golden](client, goldenSchema))
			got2 := must(ss.Encode(ctx, "golden", false, golden{ID: -65, Name: "ab", OK: true}))
			if !bytes.Equal(got2, want) {
				t.Fatalf("struct serde wire bytes\n got % x\nwant % x", got2, want)
			}
		})
	}
}

func TestKeysUseTheKeySubject(t *testing.T) {
	_, client := newRegistry(t)
	ctx := context.Background()
	serde := must(schema.NewAvroSerde(client, schema.WithSchema(`"string"`)))
	data := must(serde.Serialize(ctx, "orders", true, "order-1"))
	if want := []byte{0, 0, 0, 0, 1, 0x0e, 'o', 'r', 'd', 'e', 'r', '-', '1'}; !bytes.Equal(data, want) {
		t.Fatalf("key bytes % x, want % x", data, want)
	}
	if _, err := client.LatestSchema(ctx, "orders-key"); err != nil {
		t.Fatalf("key schema not registered under orders-key: %v", err)
	}
	if _, err := client.LatestSchema(ctx, "orders-value"); err == nil {
		t.Fatal("a key schema was registered under orders-value")
	}
}
