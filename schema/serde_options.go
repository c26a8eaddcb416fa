package schema

import "github.com/bulwarkgo/bulwark/schema/internal/avro"

type serdeConfig struct {
	schema       string
	reader       string
	strategy     SubjectNameStrategy
	autoRegister bool
	useLatest    bool
	fromStruct   bool // NewStructSerde: the schema comes from its argument
	// compile parses a schema text; nil is avro.Compile. Tests count
	// parses through it.
	compile func(string) (*avro.Compiled, error)
}

// SerdeOption configures an Avro serde.
type SerdeOption func(*serdeConfig) error

// WithSchema sets the Avro schema (JSON text) values are serialized with.
// Required for Serialize unless [WithUseLatestVersion] is on. Map serde
// only: a struct serde takes its schema as an argument.
func WithSchema(text string) SerdeOption {
	return func(c *serdeConfig) error {
		if c.fromStruct {
			return invalidConfig("WithSchema: a struct serde takes its schema as an argument")
		}
		c.schema = text
		return nil
	}
}

// WithReaderSchema makes Deserialize return values in this schema's shape,
// whatever schema they were written with, per Avro's resolution rules.
// Default: values come out in their writer's shape. Map serde only: a
// struct serde reads into its own schema.
func WithReaderSchema(text string) SerdeOption {
	return func(c *serdeConfig) error {
		if c.fromStruct {
			return invalidConfig("WithReaderSchema: a struct serde reads with the schema it was given")
		}
		c.reader = text
		return nil
	}
}

// WithSubjectNameStrategy picks how subjects are named. Default
// [TopicNameStrategy].
func WithSubjectNameStrategy(s SubjectNameStrategy) SerdeOption {
	return func(c *serdeConfig) error {
		if s == nil {
			return invalidConfig("WithSubjectNameStrategy: nil strategy")
		}
		c.strategy = s
		return nil
	}
}

// WithAutoRegister decides whether Serialize registers its schema under
// the subject (true, the default) or only looks it up and fails with
// ErrSubjectNotFound or ErrSchemaNotFound when it is not registered
// (false; the usual choice in production, where CI registers schemas).
func WithAutoRegister(on bool) SerdeOption {
	return func(c *serdeConfig) error {
		c.autoRegister = on
		return nil
	}
}

// WithUseLatestVersion makes Serialize write with the latest version
// registered under the subject, fetched once and then cached for the life
// of the serde. A value given in another schema (WithSchema, or the struct
// serde's schema) is first projected onto the latest one. It turns
// auto-registration off. Default off.
func WithUseLatestVersion(on bool) SerdeOption {
	return func(c *serdeConfig) error {
		c.useLatest = on
		return nil
	}
}
