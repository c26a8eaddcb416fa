package schema

import (
	"context"

	"github.com/bulwarkgo/bulwark/schema/internal/avro"
)

// Schema types as the registry names them. An empty Type means Avro.
const (
	TypeAvro     = "AVRO"
	TypeJSON     = "JSON"
	TypeProtobuf = "PROTOBUF"
)

// Schema is a schema as the registry stores it. Which fields are set
// depends on the call that returned it: SchemaByID knows no subject or
// version; Lookup and the version calls set them all.
type Schema struct {
	// ID is the registry's global ID of the schema text.
	ID int
	// Subject and Version place the schema in a subject's history.
	Subject string
	Version int
	// Type is TypeAvro (or empty, meaning Avro), TypeJSON or TypeProtobuf.
	// The serdes of this package handle Avro only; the client passes other
	// types through.
	Type string
	// Text is the schema itself, for Avro its JSON form.
	Text string
}

// Registry is what the serdes of this package need from a schema registry.
// [*Client] implements it; so can a test double (see package schematest
// for a conformance suite).
type Registry interface {
	// Register registers schema under subject, if it is not there yet, and
	// returns its ID.
	Register(ctx context.Context, subject string, schema Schema) (int, error)
	// Lookup finds schema among the versions of subject (comparing parsed
	// schemas, not raw text) and returns it with its ID and version.
	Lookup(ctx context.Context, subject string, schema Schema) (Schema, error)
	// SchemaByID returns the schema with the given ID.
	SchemaByID(ctx context.Context, id int) (Schema, error)
	// LatestSchema returns the latest version of subject.
	LatestSchema(ctx context.Context, subject string) (Schema, error)
}

func schemaType(s Schema) string {
	if s.Type == "" {
		return TypeAvro
	}
	return s.Type
}

// canonicalText is the text two schemas are compared by: the parsed
// canonical form for Avro (see avro.CanonicalForm), the raw text otherwise or
// when the Avro does not parse (the registry will say why). It is the
// client's cache key on every Register and Lookup: the tree alone, no
// goavro codec.
func canonicalText(s Schema) string {
	if schemaType(s) != TypeAvro {
		return s.Text
	}
	t, err := avro.Parse(s.Text)
	if err != nil {
		return s.Text
	}
	return avro.CanonicalForm(t)
}

// SameSchema reports whether a and b are the same schema: same type and,
// for Avro, the same parsed canonical form (key order, whitespace, doc
// strings and namespace spelling do not matter).
func SameSchema(a, b Schema) bool {
	return schemaType(a) == schemaType(b) && canonicalText(a) == canonicalText(b)
}

// CanonicalForm returns the parsed canonical form this package compares
// Avro schemas by: full names, a fixed key order, no doc strings or
// formatting, but defaults, aliases and logical types kept (they matter to
// schema resolution, unlike in Avro's Parsing Canonical Form). An invalid
// schema is an error matching [ErrInvalidSchema].
func CanonicalForm(avroSchema string) (string, error) {
	t, err := avro.Parse(avroSchema)
	if err != nil {
		return "", &InvalidSchemaError{Reason: err.Error()}
	}
	return avro.CanonicalForm(t), nil
}
