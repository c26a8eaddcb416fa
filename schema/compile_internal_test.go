package schema

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/bulwarkgo/bulwark/schema/internal/avro"
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
		if p.codec != s.core.local.Codec || p.guard == nil || p.guard != s.core.local.Guard() {
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

// canonicalText parses without goavro's checks (it is the client's cache
// key); schemas goavro would refuse must still give an answer, not a panic.
func TestCanonicalTextOfInvalidSchemas(t *testing.T) {
	for _, s := range []string{
		`{"type":`, `[]`, `[[]]`, `{"type":"record"}`, `{"type":"record","name":"R","fields":[1,{"name":"a"}]}`,
		`{"type":"record","name":"R","fields":[{"name":"a","type":[],"default":null}]}`,
		`{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"fixed","name":"F"},"default":"x"}]}`,
		`{"type":"enum","name":"E","symbols":[1,2]}`, `{"type":"array"}`, `{"type":"map","values":[]}`,
		`{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":"int"},"default":[1.5]}]}`,
	} {
		if got := canonicalText(Schema{Text: s}); got == "" {
			t.Errorf("%s: empty canonical text", s)
		}
	}
}

// FuzzCanonicalText: any text gives an answer without panicking.
func FuzzCanonicalText(f *testing.F) {
	f.Add(`{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"],"default":null}]}`)
	f.Add(`{"type":"enum","name":"E","symbols":["A"],"default":"A"}`)
	f.Add(`{"type":"array","items":{"type":"map","values":{"type":"fixed","name":"F","size":2}}}`)
	f.Fuzz(func(t *testing.T, s string) {
		_ = canonicalText(Schema{Text: s})
	})
}

// The APIs that judge a schema (CanonicalForm, CheckCompatibility) follow
// the Avro specification, not goavro: an invalid logical type is ignored
// there, while a serde, which needs goavro's codec, refuses the schema.
func TestInvalidLogicalTypeJudgedBySpecNotGoavro(t *testing.T) {
	for _, s := range []string{
		`{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal"}}]}`,
		`{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":2,"scale":4}}]}`,
	} {
		if _, err := CanonicalForm(s); err != nil {
			t.Errorf("CanonicalForm(%s): %v", s, err)
		}
		if reasons, err := CheckCompatibility(CompatFull, s, s); err != nil || reasons != nil {
			t.Errorf("CheckCompatibility(%s): %q, %v", s, reasons, err)
		}
		if _, err := avro.Compile(s); err == nil {
			t.Errorf("avro.Compile(%s) accepted a schema goavro cannot encode", s)
		}
	}
}

// Counted, not inferred from shared pointers: a serde given the same text
// as its schema, its reader schema and the writer schema of records under
// three IDs and two topics compiles it once; a second text once more.
func TestSerdeCompilesEachTextOnce(t *testing.T) {
	const text = `{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}`
	const other = `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string","default":""}]}`
	counts := map[string]int{}
	cfg := serdeConfig{schema: text, reader: text, autoRegister: true, strategy: TopicNameStrategy,
		compile: func(s string) (*avro.Compiled, error) { counts[s]++; return avro.Compile(s) }}
	core, err := newAvroCore(idRegistry{id: 7, text: text}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var rec []byte
	for _, topic := range []string{"t1", "t2"} {
		if rec, err = core.serialize(ctx, topic, false, map[string]any{"a": int64(1)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int{7, 8, 9} {
		binary.BigEndian.PutUint32(rec[1:], uint32(id))
		if _, err := core.deserialize(ctx, rec); err != nil {
			t.Fatalf("id %d: %v", id, err)
		}
	}
	if counts[text] != 1 {
		t.Fatalf("the serde's text was compiled %d times, want 1", counts[text])
	}
	// A writer schema with another text is compiled once, however many
	// records carry its ID.
	core.reg = idRegistry{id: 10, text: other}
	otherRec := append([]byte{0, 0, 0, 0, 10}, 2, 0) // a=1, b=""
	for range 3 {
		if _, err := core.deserialize(ctx, otherRec); err != nil {
			t.Fatal(err)
		}
	}
	if counts[text] != 1 || counts[other] != 1 || len(counts) != 2 {
		t.Fatalf("compiles per text: %v, want each text once", counts)
	}
}
