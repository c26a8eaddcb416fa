package schematest

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwarkgo/bulwark/schema"
)

// Each store failure, produced by the store itself without HTTP, answers
// with the status and error code the Confluent registry documents.
func TestStoreFailuresAnswerRegistryCodes(t *testing.T) {
	const v1 = `{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`
	const v2 = `{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"string"}]}`
	avro := schema.TypeAvro
	// fresh returns a store holding subject s with versions 1 (live) and
	// 2 (soft-deleted), and subject gone soft-deleted entirely.
	fresh := func(t *testing.T) *store {
		st := newStore(1, schema.CompatNone)
		for _, text := range []string{v1, v2} {
			if _, err := st.register("s", avro, text); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.register("gone", avro, v1); err != nil {
			t.Fatal(err)
		}
		if _, err := st.deleteVersion("s", "2", false); err != nil {
			t.Fatal(err)
		}
		if _, err := st.deleteSubject("gone", false); err != nil {
			t.Fatal(err)
		}
		return st
	}
	cases := []struct {
		name         string
		kind         error
		status, code int
		call         func(st *store) error
	}{
		{"SubjectNotFound", errSubjectNotFound, 404, 40401, func(st *store) error { _, err := st.versions("nobody"); return err }},
		{"VersionNotFound", errVersionNotFound, 404, 40402, func(st *store) error { _, err := st.version("s", "7"); return err }},
		{"SchemaNotFound", errSchemaNotFound, 404, 40403, func(st *store) error { _, err := st.schemaByID(99); return err }},
		{"SubjectSoftDeleted", errSubjectSoftDeleted, 404, 40404, func(st *store) error { _, err := st.deleteSubject("gone", false); return err }},
		{"SubjectNotSoftDeleted", errSubjectNotSoftDeleted, 404, 40405, func(st *store) error { _, err := st.deleteSubject("s", true); return err }},
		{"VersionSoftDeleted", errVersionSoftDeleted, 404, 40406, func(st *store) error { _, err := st.deleteVersion("s", "2", false); return err }},
		{"VersionNotSoftDeleted", errVersionNotSoftDeleted, 404, 40407, func(st *store) error { _, err := st.deleteVersion("s", "1", true); return err }},
		{"SubjectCompatNotFound", errSubjectCompatNotFound, 404, 40408, func(st *store) error { _, err := st.compatibility("s", false); return err }},
		{"IncompatibleSchema", errIncompatibleSchema, 409, 409, func(st *store) error {
			if err := st.setCompatibility("s", schema.CompatBackward); err != nil {
				return err
			}
			_, err := st.register("s", avro, `{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"c","type":"int"}]}`)
			return err
		}},
		{"InvalidSchema", errInvalidSchema, 422, 42201, func(st *store) error { _, err := st.register("s", avro, `{not json`); return err }},
		{"InvalidVersion", errInvalidVersion, 422, 42202, func(st *store) error { _, err := st.version("s", "zero"); return err }},
		{"InvalidCompatibility", errInvalidCompatibility, 422, 42203, func(st *store) error { return st.setCompatibility("", "SIDEWAYS") }},
	}
	covered := map[error]bool{}
	for _, tc := range cases {
		covered[tc.kind] = true
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(fresh(t))
			if !errors.Is(err, tc.kind) {
				t.Fatalf("store error = %v, want one matching %v", err, tc.kind)
			}
			w := httptest.NewRecorder()
			writeStoreError(w, err)
			var body struct {
				ErrorCode int    `json:"error_code"`
				Message   string `json:"message"`
			}
			if err := json.NewDecoder(w.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.status || body.ErrorCode != tc.code || body.Message == "" {
				t.Fatalf("answer = %d %+v, want %d with error_code %d and a message", w.Code, body, tc.status, tc.code)
			}
		})
	}
	for _, c := range errorCodes {
		if !covered[c.kind] {
			t.Errorf("store failure %v has no case here", c.kind)
		}
	}
}

// A refused registration answers with the reasons in the registry's
// message format, which the client reads back.
func TestIncompatibleAnswerSpellsReasons(t *testing.T) {
	w := httptest.NewRecorder()
	writeStoreError(w, &incompatibleError{subject: "s", level: schema.CompatBackward, reasons: []string{"field b added without a default"}})
	want := `details: [{errorType:'INCOMPATIBLE', description:'field b added without a default'}, {compatibility: 'BACKWARD'}]`
	if w.Code != 409 || !strings.Contains(w.Body.String(), want) {
		t.Fatalf("answer = %d %s, want 409 containing %s", w.Code, w.Body.String(), want)
	}
}
