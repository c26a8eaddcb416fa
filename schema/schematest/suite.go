package schematest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/schema"
)

// Registry is what the conformance suite exercises: schema.Registry plus
// the administrative calls of *schema.Client.
type Registry interface {
	schema.Registry
	SchemaVersion(ctx context.Context, subject string, version int) (schema.Schema, error)
	Subjects(ctx context.Context) ([]string, error)
	Versions(ctx context.Context, subject string) ([]int, error)
	DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error)
	DeleteVersion(ctx context.Context, subject string, version int, permanent bool) error
	TestCompatibility(ctx context.Context, subject string, s schema.Schema) (bool, []string, error)
	Compatibility(ctx context.Context, subject string) (schema.Compatibility, error)
	SetCompatibility(ctx context.Context, subject string, level schema.Compatibility) error
}

// Schemas used by the suite: v2 adds a field with a default (compatible
// every way), v3 adds one without (not backward compatible).
const (
	suiteV1 = `{"type":"record","name":"Order","namespace":"suite","fields":[
		{"name":"orderId","type":"string"},{"name":"amount","type":"double"}]}`
	suiteV1Reordered = `{"fields":[{"type":"string","name":"orderId"},{"name":"amount","type":"double"}],
		"namespace":"suite","name":"Order","type":"record","doc":"same schema, other spelling"}`
	suiteV2 = `{"type":"record","name":"Order","namespace":"suite","fields":[
		{"name":"orderId","type":"string"},{"name":"amount","type":"double"},
		{"name":"note","type":"string","default":""}]}`
	suiteV3 = `{"type":"record","name":"Order","namespace":"suite","fields":[
		{"name":"orderId","type":"string"},{"name":"amount","type":"double"},
		{"name":"customerId","type":"string"}]}`
)

func avro(text string) schema.Schema { return schema.Schema{Type: schema.TypeAvro, Text: text} }

// RunRegistrySuite runs the conformance suite against the registries
// newRegistry returns: each must be empty, with the global compatibility
// level BACKWARD. *schema.Client against a [Server] passes it.
//
// Each subtest gets its own registry from newRegistry. They run one after
// another, not in parallel, so that newRegistry may hand out one real
// registry emptied between subtests.
func RunRegistrySuite(t *testing.T, newRegistry func(t *testing.T) Registry) {
	var s registrySuite
	tests := []struct {
		name string
		run  func(t *testing.T, r Registry)
	}{
		{"RegisterThenFetch", s.registerThenFetch},
		{"RegisterIsIdempotentByParsedForm", s.registerIsIdempotentByParsedForm},
		{"SameSchemaSameIDAcrossSubjects", s.sameSchemaSameIDAcrossSubjects},
		{"Lookup", s.lookup},
		{"NotFound", s.notFound},
		{"CompatibleEvolution", s.compatibleEvolution},
		{"IncompatibleRejectedWithReasons", s.incompatibleRejectedWithReasons},
		{"InvalidSchema", s.invalidSchema},
		{"CompatibilityLevels", s.compatibilityLevels},
		{"GlobalCompatibility", s.globalCompatibility},
		{"Deletes", s.deletes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newRegistry(t)) })
	}
}

// registrySuite holds the suite's subtests, one method each.
type registrySuite struct{}

// ctx bounds each registry call of a subtest.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (registrySuite) registerThenFetch(t *testing.T, r Registry) {
	id := mustRegister(t, r, "orders-value", suiteV1)
	got, err := r.SchemaByID(ctx(t), id)
	check(t, err)
	if !schema.SameSchema(got, avro(suiteV1)) || got.ID != id {
		t.Fatalf("SchemaByID(%d) = %+v, want the registered schema", id, got)
	}
	v, err := r.SchemaVersion(ctx(t), "orders-value", 1)
	check(t, err)
	if v.ID != id || v.Version != 1 || v.Subject != "orders-value" || !schema.SameSchema(v, avro(suiteV1)) {
		t.Fatalf("SchemaVersion = %+v", v)
	}
	latest, err := r.LatestSchema(ctx(t), "orders-value")
	check(t, err)
	if latest.ID != id || latest.Version != 1 {
		t.Fatalf("LatestSchema = %+v", latest)
	}
	versions, err := r.Versions(ctx(t), "orders-value")
	check(t, err)
	if !slices.Equal(versions, []int{1}) {
		t.Fatalf("Versions = %v, want [1]", versions)
	}
	subjects, err := r.Subjects(ctx(t))
	check(t, err)
	if !slices.Contains(subjects, "orders-value") {
		t.Fatalf("Subjects = %v, want orders-value among them", subjects)
	}
}

func (registrySuite) registerIsIdempotentByParsedForm(t *testing.T, r Registry) {
	id1 := mustRegister(t, r, "orders-value", suiteV1)
	id2 := mustRegister(t, r, "orders-value", suiteV1Reordered)
	if id1 != id2 {
		t.Fatalf("re-registering the same schema (keys reordered) gave ID %d, then %d", id1, id2)
	}
	versions, err := r.Versions(ctx(t), "orders-value")
	check(t, err)
	if len(versions) != 1 {
		t.Fatalf("Versions = %v, want one version", versions)
	}
}

func (registrySuite) sameSchemaSameIDAcrossSubjects(t *testing.T, r Registry) {
	a := mustRegister(t, r, "a-value", suiteV1)
	b := mustRegister(t, r, "b-value", suiteV1)
	if a != b {
		t.Fatalf("same schema in two subjects got IDs %d and %d", a, b)
	}
}

func (registrySuite) lookup(t *testing.T, r Registry) {
	id := mustRegister(t, r, "orders-value", suiteV1)
	got, err := r.Lookup(ctx(t), "orders-value", avro(suiteV1Reordered))
	check(t, err)
	if got.ID != id || got.Version != 1 {
		t.Fatalf("Lookup = %+v, want ID %d version 1", got, id)
	}
	_, err = r.Lookup(ctx(t), "nobody-value", avro(suiteV1))
	wantErr(t, err, schema.ErrSubjectNotFound)
	_, err = r.Lookup(ctx(t), "orders-value", avro(suiteV2))
	wantErr(t, err, schema.ErrSchemaNotFound)
}

func (registrySuite) notFound(t *testing.T, r Registry) {
	mustRegister(t, r, "orders-value", suiteV1)
	_, err := r.SchemaByID(ctx(t), 987654)
	wantErr(t, err, schema.ErrSchemaNotFound)
	_, err = r.SchemaVersion(ctx(t), "orders-value", 7)
	wantErr(t, err, schema.ErrVersionNotFound)
	_, err = r.LatestSchema(ctx(t), "nobody-value")
	wantErr(t, err, schema.ErrSubjectNotFound)
	_, err = r.Versions(ctx(t), "nobody-value")
	wantErr(t, err, schema.ErrSubjectNotFound)
}

func (registrySuite) compatibleEvolution(t *testing.T, r Registry) {
	id1 := mustRegister(t, r, "orders-value", suiteV1)
	id2 := mustRegister(t, r, "orders-value", suiteV2)
	if id1 == id2 {
		t.Fatalf("a new schema got the old ID %d", id1)
	}
	latest, err := r.LatestSchema(ctx(t), "orders-value")
	check(t, err)
	if latest.ID != id2 || latest.Version != 2 {
		t.Fatalf("LatestSchema = %+v, want ID %d version 2", latest, id2)
	}
}

func (registrySuite) incompatibleRejectedWithReasons(t *testing.T, r Registry) {
	mustRegister(t, r, "orders-value", suiteV1)
	_, err := r.Register(ctx(t), "orders-value", avro(suiteV3))
	wantErr(t, err, schema.ErrIncompatibleSchema)
	if !strings.Contains(err.Error(), "customerId") {
		t.Fatalf("error %q does not name the field customerId", err)
	}
	ok, reasons, err := r.TestCompatibility(ctx(t), "orders-value", avro(suiteV3))
	check(t, err)
	if ok || len(reasons) == 0 || !strings.Contains(strings.Join(reasons, " "), "customerId") {
		t.Fatalf("TestCompatibility = %v, %q; want incompatible, naming customerId", ok, reasons)
	}
	ok, _, err = r.TestCompatibility(ctx(t), "orders-value", avro(suiteV2))
	check(t, err)
	if !ok {
		t.Fatal("TestCompatibility says a compatible schema is not")
	}
}

func (registrySuite) invalidSchema(t *testing.T, r Registry) {
	_, err := r.Register(ctx(t), "orders-value", avro(`{"type":"record","name":"X","fields":[{"name":"a","type":"nosuchtype"}]}`))
	wantErr(t, err, schema.ErrInvalidSchema)
	_, err = r.Register(ctx(t), "orders-value", avro(`{not json`))
	wantErr(t, err, schema.ErrInvalidSchema)
}

func (registrySuite) compatibilityLevels(t *testing.T, r Registry) {
	global, err := r.Compatibility(ctx(t), "")
	check(t, err)
	if global != schema.CompatBackward {
		t.Fatalf("global level = %q, want BACKWARD", global)
	}
	mustRegister(t, r, "orders-value", suiteV1)
	check(t, r.SetCompatibility(ctx(t), "orders-value", schema.CompatForward))
	level, err := r.Compatibility(ctx(t), "orders-value")
	check(t, err)
	if level != schema.CompatForward {
		t.Fatalf("subject level = %q, want FORWARD", level)
	}
	other, err := r.Compatibility(ctx(t), "other-value")
	check(t, err)
	if other != schema.CompatBackward {
		t.Fatalf("unconfigured subject level = %q, want the global BACKWARD", other)
	}
	// FORWARD: the old schema must read the new one's data, so adding
	// a required field is fine, removing one is not.
	mustRegister(t, r, "orders-value", suiteV3)
	_, err = r.Register(ctx(t), "orders-value", avro(`{"type":"record","name":"Order","namespace":"suite","fields":[{"name":"orderId","type":"string"}]}`))
	wantErr(t, err, schema.ErrIncompatibleSchema)
	check(t, r.SetCompatibility(ctx(t), "orders-value", schema.CompatNone))
	mustRegister(t, r, "orders-value", `{"type":"record","name":"Order","namespace":"suite","fields":[{"name":"orderId","type":"string"}]}`)
	wantErr(t, r.SetCompatibility(ctx(t), "", schema.Compatibility("SIDEWAYS")), schema.ErrInvalidCompatibility)
}

func (registrySuite) globalCompatibility(t *testing.T, r Registry) {
	mustRegister(t, r, "orders-value", suiteV1)
	check(t, r.SetCompatibility(ctx(t), "", schema.CompatFull))
	global, err := r.Compatibility(ctx(t), "")
	check(t, err)
	if global != schema.CompatFull {
		t.Fatalf("global level after setting FULL = %q", global)
	}
	level, err := r.Compatibility(ctx(t), "orders-value")
	check(t, err)
	if level != schema.CompatFull {
		t.Fatalf("subject without its own level = %q, want the global FULL", level)
	}
	// FULL rejects what BACKWARD alone would accept: removing a field
	// that has no default breaks old readers (forward direction).
	_, err = r.Register(ctx(t), "orders-value", avro(`{"type":"record","name":"Order","namespace":"suite","fields":[{"name":"orderId","type":"string"}]}`))
	wantErr(t, err, schema.ErrIncompatibleSchema)
	// A subject's own level wins over the global one.
	check(t, r.SetCompatibility(ctx(t), "orders-value", schema.CompatBackward))
	mustRegister(t, r, "orders-value", `{"type":"record","name":"Order","namespace":"suite","fields":[{"name":"orderId","type":"string"}]}`)
}

func (registrySuite) deletes(t *testing.T, r Registry) {
	mustRegister(t, r, "orders-value", suiteV1)
	mustRegister(t, r, "orders-value", suiteV2)
	check(t, r.DeleteVersion(ctx(t), "orders-value", 2, false))
	versions, err := r.Versions(ctx(t), "orders-value")
	check(t, err)
	if !slices.Equal(versions, []int{1}) {
		t.Fatalf("after deleting version 2, Versions = %v", versions)
	}
	_, err = r.SchemaVersion(ctx(t), "orders-value", 2)
	wantErr(t, err, schema.ErrVersionNotFound)
	deleted, err := r.DeleteSubject(ctx(t), "orders-value", false)
	check(t, err)
	if len(deleted) == 0 {
		t.Fatal("DeleteSubject returned no versions")
	}
	_, err = r.Versions(ctx(t), "orders-value")
	wantErr(t, err, schema.ErrSubjectNotFound)
	_, err = r.DeleteSubject(ctx(t), "orders-value", true)
	check(t, err)
	_, err = r.DeleteSubject(ctx(t), "orders-value", true)
	wantErr(t, err, schema.ErrSubjectNotFound)
	// A deleted subject starts again at version 1.
	mustRegister(t, r, "orders-value", suiteV1)
	latest, err := r.LatestSchema(ctx(t), "orders-value")
	check(t, err)
	if latest.Version != 1 {
		t.Fatalf("re-created subject's latest version = %d, want 1", latest.Version)
	}
}

func mustRegister(t *testing.T, r Registry, subject, text string) int {
	t.Helper()
	id, err := r.Register(ctx(t), subject, avro(text))
	if err != nil {
		t.Fatalf("Register(%s): %v", subject, err)
	}
	if id <= 0 {
		t.Fatalf("Register(%s) = ID %d, want a positive ID", subject, id)
	}
	return id
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one matching %v", err, target)
	}
}
