package schema_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/schema"
)

const listSchema = `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}`

// FuzzDecode feeds arbitrary bytes to every decoding path: the map serde
// with the writer's schema, the map serde projecting onto a reader schema,
// and the struct serde. Decoding must never panic (a recovered goavro
// panic counts as one), and every failure must be a permanent DecodeError.
func FuzzDecode(f *testing.F) {
	reg := &fakeRegistry{byID: map[int]string{
		1: everythingSchema,
		2: listSchema,
		3: goldenSchema,
		// An older Golden without "ok", read with the current one.
		4: `{"type":"record","name":"Golden","namespace":"test","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"}]}`,
	}}
	writerShape := must(schema.NewAvroSerde(reg))
	projected := must(schema.NewAvroSerde(reg, schema.WithReaderSchema(
		`{"type":"record","name":"Golden","namespace":"test","fields":[{"name":"id","type":"long"},{"name":"name","type":"bytes"},{"name":"ok","type":"boolean","default":false}]}`)))
	typed := must(schema.NewStructSerde[Everything](reg, everythingSchema))

	// Seeds: valid records of each schema, then damaged ones.
	ctx := context.Background()
	local := &idRegistry{id: 1}
	everything := must(must(schema.NewStructSerde[Everything](local, everythingSchema)).Encode(ctx, "t", false, fullEverything()))
	local.id = 3
	golden := must(must(schema.NewAvroSerde(local, schema.WithSchema(goldenSchema))).Serialize(ctx, "t", false,
		map[string]any{"id": int64(-65), "name": "ab", "ok": true}))
	list := []byte{0, 0, 0, 0, 2, 0x02, 0x02, 0x04, 0x02, 0x06, 0x00} // 1 -> 2 -> 3 -> null
	old := []byte{0, 0, 0, 0, 4, 0x0a, 0x04, 'h', 'i'}
	for _, seed := range [][]byte{everything, golden, list, old, nil, {0}, {1, 0, 0, 0, 1}, {0, 0, 0, 0, 9, 0}} {
		f.Add(seed)
		if len(seed) > 6 {
			f.Add(seed[:len(seed)/2])
		}
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		for name, decode := range map[string]func() (any, error){
			"writer shape": func() (any, error) { return writerShape.Deserialize(ctx, "t", false, data) },
			"projected":    func() (any, error) { return projected.Deserialize(ctx, "t", false, data) },
			"struct":       func() (any, error) { return typed.Deserialize(ctx, "t", false, data) },
		} {
			_, err := decode()
			if err == nil {
				continue
			}
			if strings.Contains(err.Error(), "decoder panic") {
				t.Fatalf("%s: goavro panicked: %v", name, err)
			}
			if bulwark.ClassOf(err) != bulwark.ClassPermanent || !errors.Is(err, schema.ErrDecode) {
				t.Fatalf("%s: error %v is not a permanent decode error", name, err)
			}
		}
	})
}

// idRegistry registers everything under one fixed ID, to build seeds.
type idRegistry struct {
	fakeRegistry
	id int
}

func (r *idRegistry) Register(context.Context, string, schema.Schema) (int, error) { return r.id, nil }
