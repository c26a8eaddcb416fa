package schema_test

import (
	"context"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/schema"
)

const everythingSchema = `{"type":"record","name":"Everything","namespace":"test","fields":[
	{"name":"s","type":"string"},
	{"name":"i","type":"int"},
	{"name":"l","type":"long"},
	{"name":"f","type":"float"},
	{"name":"d","type":"double"},
	{"name":"b","type":"boolean"},
	{"name":"raw","type":"bytes"},
	{"name":"fix","type":{"type":"fixed","name":"Four","size":4}},
	{"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}},
	{"name":"tags","type":{"type":"array","items":"string"}},
	{"name":"counts","type":{"type":"map","values":"long"}},
	{"name":"maybeName","type":["null","string"],"default":null},
	{"name":"maybeCount","type":["long","null"]},
	{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"},{"name":"label","type":"string"}]}},
	{"name":"maybeInner","type":["null","Inner"],"default":null},
	{"name":"inners","type":{"type":"array","items":"Inner"}},
	{"name":"grid","type":{"type":"map","values":{"type":"array","items":"int"}}},
	{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"atMicros","type":{"type":"long","logicalType":"timestamp-micros"}},
	{"name":"maybeAt","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null},
	{"name":"day","type":{"type":"int","logicalType":"date"}},
	{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
	{"name":"small","type":"int"}
]}`

type Color string

type Inner struct {
	X     int32  `avro:"x"`
	Label string `avro:"label"`
}

type Everything struct {
	S          string             `avro:"s"`
	I          int32              `avro:"i"`
	L          int64              `avro:"l"`
	F          float32            `avro:"f"`
	D          float64            `avro:"d"`
	B          bool               `avro:"b"`
	Raw        []byte             `avro:"raw"`
	Fix        [4]byte            `avro:"fix"`
	Color      Color              `avro:"color"`
	Tags       []string           `avro:"tags"`
	Counts     map[string]int64   `avro:"counts"`
	MaybeName  *string            `avro:"maybeName"`
	MaybeCount *int64             `avro:"maybeCount"`
	Inner      Inner              `avro:"inner"`
	MaybeInner *Inner             `avro:"maybeInner"`
	Inners     []Inner            `avro:"inners"`
	Grid       map[string][]int32 `avro:"grid"`
	At         time.Time          `avro:"at"`
	AtMicros   time.Time          `avro:"atMicros"`
	MaybeAt    *time.Time         `avro:"maybeAt"`
	Day        time.Time          `avro:"day"`
	Price      *big.Rat           `avro:"price"`
	Small      int                `avro:"small"`
	Ignored    string             `avro:"-"`
}

func ptr[T any](v T) *T { return &v }

func fullEverything() Everything {
	return Everything{
		S: "héllo", I: -123456, L: 1 << 50, F: 1.5, D: -2.25, B: true,
		Raw: []byte{0, 1, 2, 255}, Fix: [4]byte{9, 8, 7, 6}, Color: "GREEN",
		Tags: []string{"a", "b"}, Counts: map[string]int64{"x": 1, "y": -1},
		MaybeName: ptr("n"), MaybeCount: ptr(int64(7)),
		Inner: Inner{X: 1, Label: "one"}, MaybeInner: &Inner{X: 2, Label: "two"},
		Inners: []Inner{{X: 3, Label: "three"}},
		Grid:   map[string][]int32{"r": {1, 2, 3}},
		At:     time.UnixMilli(1_700_000_000_123).UTC(), AtMicros: time.UnixMicro(1_700_000_000_123_456).UTC(),
		MaybeAt: ptr(time.UnixMilli(42).UTC()), Day: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		Price: big.NewRat(12345, 100), Small: 77,
	}
}

func emptyEverything() Everything {
	// Nil pointers become null; empty collections must come back empty.
	return Everything{
		Raw: []byte{}, Color: "RED", Tags: []string{}, Counts: map[string]int64{}, Inners: []Inner{},
		Grid: map[string][]int32{}, At: time.UnixMilli(0).UTC(), AtMicros: time.UnixMicro(0).UTC(),
		Day: time.Unix(0, 0).UTC(), Price: big.NewRat(0, 1),
	}
}

func TestStructSerdeRoundTripsEveryType(t *testing.T) {
	_, client := newRegistry(t)
	ctx := context.Background()
	serde := must(schema.NewStructSerde[Everything](client, everythingSchema))
	for name, in := range map[string]Everything{"full": fullEverything(), "nulls and empties": emptyEverything()} {
		t.Run(name, func(t *testing.T) {
			in.Ignored = "not written"
			data := must(serde.Encode(ctx, "everything", false, in))
			out := must(serde.Decode(ctx, "everything", false, data))
			in.Ignored = ""
			// The any-typed methods agree.
			data2 := must(serde.Serialize(ctx, "everything", false, &in))
			v := must(serde.Deserialize(ctx, "everything", false, data2))
			if got, ok := v.(Everything); !ok || got.Price.Cmp(in.Price) != 0 || got.S != in.S || len(got.Counts) != len(in.Counts) {
				t.Fatalf("Serialize/Deserialize disagree with Encode/Decode: %+v", v)
			}
			if in.Price.Cmp(out.Price) != 0 {
				t.Fatalf("price %v, want %v", out.Price, in.Price)
			}
			in.Price, out.Price = nil, nil
			if !reflect.DeepEqual(in, out) {
				t.Fatalf("round trip\n got %+v\nwant %+v", out, in)
			}
		})
	}
}

func TestMapSerdeRoundTripsEveryType(t *testing.T) {
	_, client := newRegistry(t)
	ctx := context.Background()
	structSerde := must(schema.NewStructSerde[Everything](client, everythingSchema))
	mapSerde := must(schema.NewAvroSerde(client, schema.WithSchema(everythingSchema)))
	// Bytes from the struct serde decode through the map serde into
	// goavro's native shapes, and encode back to the same bytes.
	data := must(structSerde.Encode(ctx, "everything", false, fullEverything()))
	v := must(mapSerde.Deserialize(ctx, "everything", false, data))
	m := v.(map[string]any)
	checks := map[string]any{
		"s": "héllo", "i": int32(-123456), "l": int64(1 << 50), "f": float32(1.5), "d": -2.25, "b": true,
		"raw": []byte{0, 1, 2, 255}, "fix": []byte{9, 8, 7, 6}, "color": "GREEN",
		"tags": []any{"a", "b"}, "counts": map[string]any{"x": int64(1), "y": int64(-1)},
		"maybeName": map[string]any{"string": "n"}, "maybeCount": map[string]any{"long": int64(7)},
		"inner":      map[string]any{"x": int32(1), "label": "one"},
		"maybeInner": map[string]any{"test.Inner": map[string]any{"x": int32(2), "label": "two"}},
		"at":         time.UnixMilli(1_700_000_000_123).UTC(),
		"maybeAt":    map[string]any{"long.timestamp-millis": time.UnixMilli(42).UTC()},
	}
	for k, want := range checks {
		if !reflect.DeepEqual(m[k], want) {
			t.Errorf("field %s = %#v, want %#v", k, m[k], want)
		}
	}
	// Re-encoded by the map serde, the struct serde reads the same value
	// (bytes may differ: Avro leaves the order of map entries open).
	again := must(mapSerde.Serialize(ctx, "everything", false, m))
	back := must(structSerde.Decode(ctx, "everything", false, again))
	want := fullEverything()
	if back.Price.Cmp(want.Price) != 0 {
		t.Fatalf("price %v, want %v", back.Price, want.Price)
	}
	back.Price, want.Price = nil, nil
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("map serde round trip\n got %+v\nwant %+v", back, want)
	}
}

func TestStructSerdeRejectsMismatchedTypes(t *testing.T) {
	_, client := newRegistry(t)
	type wrongType struct {
		ID string `avro:"id"`
	}
	type missingField struct {
		ID int64 `avro:"id"`
	}
	type strayTag struct {
		ID    int64 `avro:"id"`
		Other int64 `avro:"other"`
	}
	const s = `{"type":"record","name":"R","fields":[{"name":"id","type":"long"}]}`
	const s2 = `{"type":"record","name":"R","fields":[{"name":"id","type":"long"},{"name":"extra","type":"string"}]}`
	if _, err := schema.NewStructSerde[wrongType](client, s); err == nil {
		t.Error("string field for a long accepted")
	}
	if _, err := schema.NewStructSerde[missingField](client, s2); err == nil {
		t.Error("struct without a field for 'extra' accepted")
	}
	if _, err := schema.NewStructSerde[strayTag](client, s); err == nil {
		t.Error("field tagged with a name the schema lacks accepted")
	}
	if _, err := schema.NewStructSerde[missingField](client, s); err != nil {
		t.Errorf("matching struct rejected: %v", err)
	}
}

func TestEncodeErrorsArePermanent(t *testing.T) {
	_, client := newRegistry(t)
	serde := must(schema.NewAvroSerde(client, schema.WithSchema(goldenSchema)))
	_, err := serde.Serialize(context.Background(), "golden", false, map[string]any{"id": "not a number"})
	if err == nil {
		t.Fatal("encoding a bad value succeeded")
	}
	requireEncodeError(t, err)
}

// The mappings the StructSerde documents beyond the list: unsigned
// integers (range-checked), time.Duration for time-millis/time-micros, and
// nil-able slices and maps for nullable unions (nil meaning null).
func TestStructSerdeRoundTripsDocumentedExtras(t *testing.T) {
	const extrasSchema = `{"type":"record","name":"Extras","namespace":"test","fields":[
		{"name":"u8","type":"int"},
		{"name":"u16","type":"int"},
		{"name":"u32","type":"long"},
		{"name":"wait","type":{"type":"int","logicalType":"time-millis"}},
		{"name":"spent","type":{"type":"long","logicalType":"time-micros"}},
		{"name":"maybeTags","type":["null",{"type":"array","items":"string"}],"default":null},
		{"name":"maybeCounts","type":["null",{"type":"map","values":"int"}],"default":null}
	]}`
	type Extras struct {
		U8          uint8            `avro:"u8"`
		U16         uint16           `avro:"u16"`
		U32         uint32           `avro:"u32"`
		Wait        time.Duration    `avro:"wait"`
		Spent       time.Duration    `avro:"spent"`
		MaybeTags   []string         `avro:"maybeTags"`
		MaybeCounts map[string]int32 `avro:"maybeCounts"`
	}
	_, client := newRegistry(t)
	ctx := context.Background()
	serde := must(schema.NewStructSerde[Extras](client, extrasSchema))
	cases := map[string]Extras{
		"set": {U8: 255, U16: 65535, U32: 4_294_967_295, Wait: 1500 * time.Millisecond, Spent: 2*time.Second + 250*time.Microsecond,
			MaybeTags: []string{"a", "b"}, MaybeCounts: map[string]int32{"x": 3}},
		"nulls": {},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			out := must(serde.Decode(ctx, "extras", false, must(serde.Encode(ctx, "extras", false, in))))
			if !reflect.DeepEqual(in, out) {
				t.Fatalf("round trip\n got %+v\nwant %+v", out, in)
			}
		})
	}
	// A value an unsigned field cannot hold is an error, not a wrap-around.
	type Narrow struct {
		U8 uint8 `avro:"u8"`
	}
	narrow := must(schema.NewStructSerde[Narrow](client, `{"type":"record","name":"Narrow","namespace":"test","fields":[{"name":"u8","type":"int"}]}`))
	wide := must(schema.NewAvroSerde(client, schema.WithSchema(`{"type":"record","name":"Narrow","namespace":"test","fields":[{"name":"u8","type":"int"}]}`)))
	for _, v := range []int32{256, -1} {
		data := must(wide.Serialize(ctx, "narrow", false, map[string]any{"u8": v}))
		if got, err := narrow.Decode(ctx, "narrow", false, data); err == nil {
			t.Fatalf("decoding %d into uint8 gave %+v, want an overflow error", v, got)
		}
	}
}
