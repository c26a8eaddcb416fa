package schema_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

func rec(fields string) string {
	return `{"type":"record","name":"R","namespace":"ns","fields":[` + fields + `]}`
}

// Pairs from the Avro specification's schema resolution rules. "old" is
// the earlier schema, "new" the candidate; backward asks whether new reads
// old's data, forward whether old reads new's.
func TestCompatibilityVerdicts(t *testing.T) {
	cases := []struct {
		name              string
		old, new          string
		backward, forward bool
		reasonContains    string // in the first failing direction's reasons
	}{
		{"identical", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"}`), true, true, ""},
		{"field added with default", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"},{"name":"b","type":"string","default":""}`), true, true, ""},
		{"field added without default", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"},{"name":"customerId","type":"string"}`), false, true, "field customerId added without a default"},
		{"field removed that had a default", rec(`{"name":"a","type":"int"},{"name":"b","type":"string","default":""}`), rec(`{"name":"a","type":"int"}`), true, true, ""},
		{"field removed without default", rec(`{"name":"a","type":"int"},{"name":"customerId","type":"string"}`), rec(`{"name":"a","type":"int"}`), true, false, "field customerId removed without a default"},
		{"int to long", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"long"}`), true, false, "int"},
		{"int to float", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"float"}`), true, false, ""},
		{"int to double", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"double"}`), true, false, ""},
		{"long to float", rec(`{"name":"a","type":"long"}`), rec(`{"name":"a","type":"float"}`), true, false, ""},
		{"long to double", rec(`{"name":"a","type":"long"}`), rec(`{"name":"a","type":"double"}`), true, false, ""},
		{"float to double", rec(`{"name":"a","type":"float"}`), rec(`{"name":"a","type":"double"}`), true, false, ""},
		{"string to bytes", rec(`{"name":"a","type":"string"}`), rec(`{"name":"a","type":"bytes"}`), true, true, ""},
		{"int to string", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"string"}`), false, false, "type changed from int to string"},
		{"boolean to int", rec(`{"name":"a","type":"boolean"}`), rec(`{"name":"a","type":"int"}`), false, false, "boolean"},
		{"enum symbol added", rec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}`), rec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}}`), true, false, "symbol C added to enum ns.E"},
		{"enum symbol removed", rec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}`), rec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}`), false, true, "symbol B removed from enum ns.E"},
		{"enum symbol added, old has default", rec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}}`), rec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"],"default":"A"}}`), true, true, ""},
		{"enum renamed", rec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}`), rec(`{"name":"e","type":{"type":"enum","name":"F","symbols":["A"]}}`), false, false, "enum name changed from ns.E to ns.F"},
		{"fixed size changed", rec(`{"name":"f","type":{"type":"fixed","name":"F","size":4}}`), rec(`{"name":"f","type":{"type":"fixed","name":"F","size":8}}`), false, false, "size changed from 4 to 8"},
		{"record renamed", `{"type":"record","name":"A","fields":[]}`, `{"type":"record","name":"B","fields":[]}`, false, false, "record name changed from A to B"},
		{"record renamed with alias", `{"type":"record","name":"A","fields":[]}`, `{"type":"record","name":"B","aliases":["A"],"fields":[]}`, true, false, ""},
		{"namespace changed, same short name", `{"type":"record","name":"a.R","fields":[]}`, `{"type":"record","name":"b.R","fields":[]}`, true, true, ""},
		{"field renamed via alias", rec(`{"name":"a","type":"int"}`), rec(`{"name":"b","type":"int","aliases":["a"]}`), true, false, "field a removed without a default"},
		{"union gains a branch", rec(`{"name":"u","type":["null","string"]}`), rec(`{"name":"u","type":["null","string","long"]}`), true, false, "long"},
		{"type becomes nullable", rec(`{"name":"u","type":"string"}`), rec(`{"name":"u","type":["null","string"]}`), true, false, "null"},
		{"int inside union promoted", rec(`{"name":"u","type":["null","int"]}`), rec(`{"name":"u","type":["null","long"]}`), true, false, ""},
		{"array items promoted", rec(`{"name":"xs","type":{"type":"array","items":"int"}}`), rec(`{"name":"xs","type":{"type":"array","items":"long"}}`), true, false, ""},
		{"map values changed incompatibly", rec(`{"name":"m","type":{"type":"map","values":"string"}}`), rec(`{"name":"m","type":{"type":"map","values":"int"}}`), false, false, "m.{}"},
		{"array to map", rec(`{"name":"x","type":{"type":"array","items":"int"}}`), rec(`{"name":"x","type":{"type":"map","values":"int"}}`), false, false, ""},
		{"nested record field added without default", rec(`{"name":"c","type":{"type":"record","name":"C","fields":[{"name":"x","type":"int"}]}}`), rec(`{"name":"c","type":{"type":"record","name":"C","fields":[{"name":"x","type":"int"},{"name":"y","type":"int"}]}}`), false, true, "c: field y added without a default"},
		{"recursive list unchanged", `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`, `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]},{"name":"v","type":"int","default":0}]}`, true, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bw := must(schema.CheckCompatibility(schema.CompatBackward, tc.new, tc.old))
			fw := must(schema.CheckCompatibility(schema.CompatForward, tc.new, tc.old))
			full := must(schema.CheckCompatibility(schema.CompatFull, tc.new, tc.old))
			none := must(schema.CheckCompatibility(schema.CompatNone, tc.new, tc.old))
			if (len(bw) == 0) != tc.backward {
				t.Errorf("BACKWARD compatible = %v, want %v (reasons %q)", len(bw) == 0, tc.backward, bw)
			}
			if (len(fw) == 0) != tc.forward {
				t.Errorf("FORWARD compatible = %v, want %v (reasons %q)", len(fw) == 0, tc.forward, fw)
			}
			if (len(full) == 0) != (tc.backward && tc.forward) {
				t.Errorf("FULL compatible = %v, want %v", len(full) == 0, tc.backward && tc.forward)
			}
			if len(none) != 0 {
				t.Errorf("NONE gave reasons %q", none)
			}
			if tc.reasonContains != "" {
				all := strings.Join(append(bw, fw...), "\n")
				if !strings.Contains(all, tc.reasonContains) {
					t.Errorf("reasons %q do not mention %q", all, tc.reasonContains)
				}
			}
		})
	}
}

func TestTransitiveCompatibility(t *testing.T) {
	v1 := rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`)
	v2 := rec(`{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}`)
	// v3 drops b: fine against v2 (which has a default for b) going forward,
	// not against v1, whose b has none.
	v3 := rec(`{"name":"a","type":"int"}`)
	if r := must(schema.CheckCompatibility(schema.CompatForward, v3, v1, v2)); len(r) != 0 {
		t.Fatalf("FORWARD against the latest only: %q", r)
	}
	r := must(schema.CheckCompatibility(schema.CompatForwardTransitive, v3, v1, v2))
	if len(r) != 1 || !strings.Contains(r[0], "earlier schema 1 of 2") || !strings.Contains(r[0], "field b removed without a default") {
		t.Fatalf("FORWARD_TRANSITIVE reasons %q", r)
	}
	if r := must(schema.CheckCompatibility(schema.CompatFullTransitive, v3, v1, v2)); len(r) == 0 {
		t.Fatal("FULL_TRANSITIVE accepted v3")
	}
	if r := must(schema.CheckCompatibility(schema.CompatBackwardTransitive, v3, v1, v2)); len(r) != 0 {
		t.Fatalf("BACKWARD_TRANSITIVE: %q", r)
	}
}

func TestCheckCompatibilityErrors(t *testing.T) {
	if _, err := schema.CheckCompatibility("SIDEWAYS", `"int"`); !errors.Is(err, schema.ErrInvalidCompatibility) {
		t.Errorf("bad level: %v", err)
	}
	if _, err := schema.CheckCompatibility(schema.CompatBackward, `{"type":"record"}`); !errors.Is(err, schema.ErrInvalidSchema) {
		t.Errorf("bad candidate: %v", err)
	}
	if _, err := schema.CheckCompatibility(schema.CompatBackward, `"int"`, `{"type":"nope"}`); !errors.Is(err, schema.ErrInvalidSchema) {
		t.Errorf("bad earlier schema: %v", err)
	}
}

func TestRequireCompatibleHelper(t *testing.T) {
	schematest.RequireCompatible(t, schema.CompatFull, rec(`{"name":"a","type":"int"},{"name":"b","type":"int","default":1}`), rec(`{"name":"a","type":"int"}`))
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		schematest.RequireCompatible(ft, schema.CompatBackward, rec(`{"name":"a","type":"int"},{"name":"customerId","type":"string"}`), rec(`{"name":"a","type":"int"}`))
	}()
	if !ft.failed || !strings.Contains(ft.msg, "field customerId added without a default") {
		t.Fatalf("helper failed = %v with %q", ft.failed, ft.msg)
	}
}

type fakeTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmtSprintf(format, args...)
	panic("fatal")
}
