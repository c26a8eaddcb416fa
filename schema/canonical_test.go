package schema_test

import (
	"errors"
	"testing"

	"github.com/bulwarkgo/bulwark/schema"
)

func TestInvalidSchemasRejected(t *testing.T) {
	for name, s := range map[string]string{
		"not JSON":                       `{"type":`,
		"trailing data":                  `"int" "long"`,
		"unknown type":                   `{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}`,
		"duplicate field":                `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}`,
		"union in union":                 `[["null","int"],"string"]`,
		"duplicate branch":               `["int","int"]`,
		"empty union":                    `[]`,
		"enum bad default":               `{"type":"enum","name":"E","symbols":["A"],"default":"B"}`,
		"enum repeated":                  `{"type":"enum","name":"E","symbols":["A","A"]}`,
		"fixed without size":             `{"type":"fixed","name":"F"}`,
		"record without name":            `{"type":"record","fields":[]}`,
		"bad name":                       `{"type":"record","name":"1R","fields":[]}`,
		"type defined twice":             `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"R","fields":[]}}]}`,
		"default wrong type":             `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`,
		"union default not first branch": `{"type":"record","name":"R","fields":[{"name":"a","type":["string","null"],"default":null}]}`,
		"array without items":            `{"type":"array"}`,
	} {
		if _, err := schema.CanonicalForm(s); !errors.Is(err, schema.ErrInvalidSchema) {
			t.Errorf("%s: error %v, want ErrInvalidSchema", name, err)
		}
	}
}

func TestCanonicalForm(t *testing.T) {
	a := `{"type":"record","name":"R","namespace":"x","doc":"d","fields":[{"name":"n","type":{"type":"record","name":"N","fields":[{"name":"v","type":{"type":"int"}}]}},{"name":"m","type":"N"}]}`
	b := `{"name":"x.R","type":"record","fields":[{"type":{"fields":[{"type":"int","name":"v"}],"type":"record","name":"x.N"},"name":"n"},{"type":"x.N","name":"m"}]}`
	ca, cb := must(schema.CanonicalForm(a)), must(schema.CanonicalForm(b))
	if ca != cb {
		t.Fatalf("canonical forms differ:\n%s\n%s", ca, cb)
	}
	want := `{"type":"record","name":"x.R","fields":[{"name":"n","type":{"type":"record","name":"x.N","fields":[{"name":"v","type":"int"}]}},{"name":"m","type":"x.N"}]}`
	if ca != want {
		t.Fatalf("canonical form\n got %s\nwant %s", ca, want)
	}
}
