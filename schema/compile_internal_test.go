package schema

import (
	"context"
	"encoding/binary"
	"testing"
)

// idRegistry answers every Register with id and every SchemaByID with text.
type idRegistry struct {
	id   int
	text string
}

func (r idRegistry) Register(context.Context, string, Schema) (int, error) { return r.id, nil }
func (r idRegistry) Lookup(context.Context, string, Schema) (Schema, error) {
	return Schema{ID: r.id, Text: r.text}, nil
}
func (r idRegistry) SchemaByID(context.Context, int) (Schema, error) {
	return Schema{Text: r.text}, nil
}
func (r idRegistry) LatestSchema(context.Context, string) (Schema, error) {
	return Schema{ID: r.id, Text: r.text}, nil
}

// A serde parses each schema text once: its own schema, its reader
// schema and the writer schemas of the records it reads share one
// compiled schema, codec and pre-decode guard, whatever their IDs.
func TestEachSchemaParsedOncePerSerde(t *testing.T) {
	const text = `{"type":"record","name":"R","fields":[{"name":"tags","type":{"type":"array","items":"string"}}]}`
	type R struct {
		Tags []string `avro:"tags"`
	}
	ctx := context.Background()
	s, err := NewStructSerde[R](idRegistry{id: 7, text: text}, text)
	if err != nil {
		t.Fatal(err)
	}
	if s.core.local != s.core.reader {
		t.Fatal("StructSerde parsed its schema twice (writer and reader)")
	}
	rec, err := s.Encode(ctx, "t", false, R{Tags: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{7, 8} { // two IDs, one text
		binary.BigEndian.PutUint32(rec[1:], uint32(id))
		if got, err := s.Decode(ctx, "t", false, rec); err != nil || len(got.Tags) != 1 {
			t.Fatalf("id %d: %v, %v", id, got, err)
		}
		p, ok := s.core.readers.peek(id)
		if !ok {
			t.Fatalf("no reader plan for id %d", id)
		}
		if p.codec != s.core.local.codec || p.guard == nil || p.guard != s.core.local.guardFor() {
			t.Fatalf("id %d: the writer schema was parsed again (codec or guard not shared)", id)
		}
	}

	m, err := NewAvroSerde(idRegistry{id: 1, text: text}, WithSchema(text), WithReaderSchema(text))
	if err != nil {
		t.Fatal(err)
	}
	if m.core.local != m.core.reader {
		t.Fatal("AvroSerde parsed the same text twice for WithSchema and WithReaderSchema")
	}
}
