package schematest

import (
	"strings"
	"testing"

	"github.com/bulwarkgo/bulwark/schema"
)

// RequireCompatible fails t, listing the reasons, unless the Avro schema
// candidate is compatible at level with the earlier schemas (oldest
// first). Meant for a CI test that guards a schema change:
//
//	schematest.RequireCompatible(t, schema.CompatBackward, newOrderSchema, orderV1, orderV2)
func RequireCompatible(t testing.TB, level schema.Compatibility, candidate string, previous ...string) {
	t.Helper()
	reasons, err := schema.CheckCompatibility(level, candidate, previous...)
	if err != nil {
		t.Fatalf("compatibility check: %v", err)
	}
	if len(reasons) > 0 {
		t.Fatalf("schema is not %s compatible:\n  - %s", level, strings.Join(reasons, "\n  - "))
	}
}
