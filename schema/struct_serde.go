package schema

import (
	"context"
	"fmt"
	"reflect"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/schema/internal/avro"
)

// StructSerde serializes and deserializes values of the Go type T with one
// Avro schema, mapping exported fields to record fields by their
// `avro:"name"` tag (untagged fields match case-insensitively; `avro:"-"`
// skips a field). Supported mappings:
//
//	boolean                      bool
//	int, long                    int, int8..int64, uint8..uint32 (range-checked)
//	float, double                float32, float64
//	string, enum                 string (or a type whose kind is string)
//	bytes, fixed                 []byte ([N]byte for fixed of size N)
//	array                        []E
//	map                          map[string]E
//	record                       struct (a non-nil pointer to one also works)
//	[null, X] / [X, null]        *X, or a nil-able slice or map
//	long timestamp-millis/micros time.Time (int64 works too)
//	int date                     time.Time
//	int time-millis, long time-micros  time.Duration
//	bytes decimal                *big.Rat
//
// Records are read into T's schema whatever schema they were written with,
// following Avro's resolution rules. Safe for concurrent use.
type StructSerde[T any] struct {
	core  *avroCore
	codec *avro.GoCodec
}

// NewStructSerde returns a serde for T with the Avro schema schemaText,
// used both to write and to read. It checks once that T can hold every
// field of the schema; a mismatch is an error wrapping [ErrInvalidConfig].
// Options as for [NewAvroSerde], except WithSchema and WithReaderSchema.
func NewStructSerde[T any](reg Registry, schemaText string, opts ...SerdeOption) (*StructSerde[T], error) {
	cfg := serdeConfig{autoRegister: true, fromStruct: true}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	cfg.schema, cfg.reader = schemaText, schemaText
	if schemaText == "" {
		return nil, invalidConfig("NewStructSerde: empty schema")
	}
	core, err := newAvroCore(reg, cfg)
	if err != nil {
		return nil, err
	}
	codec, err := avro.CompileGo(reflect.TypeFor[T](), core.local.Type)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return &StructSerde[T]{core: core, codec: codec}, nil
}

// Encode serializes v for the key (isKey) or value of topic.
func (s *StructSerde[T]) Encode(ctx context.Context, topic string, isKey bool, v T) ([]byte, error) {
	native, err := s.codec.ToNative(reflect.ValueOf(&v).Elem())
	if err != nil {
		return nil, bulwark.Permanent(&EncodeError{Reason: err.Error()})
	}
	return s.core.serialize(ctx, topic, isKey, native)
}

// Decode deserializes a record into a T. Errors as for
// [AvroSerde.Deserialize].
func (s *StructSerde[T]) Decode(ctx context.Context, topic string, isKey bool, data []byte) (T, error) {
	var out T
	native, err := s.core.deserialize(ctx, data)
	if err != nil {
		return out, err
	}
	if err := s.codec.FromNative(native, reflect.ValueOf(&out).Elem()); err != nil {
		id := -1
		if len(data) >= headerLength {
			id = int(uint32(data[1])<<24 | uint32(data[2])<<16 | uint32(data[3])<<8 | uint32(data[4]))
		}
		return out, decodeErr(id, err.Error(), ErrMalformedPayload)
	}
	return out, nil
}

// Serialize is [StructSerde.Encode] for callers that hold an any: v must
// be a T or a *T.
func (s *StructSerde[T]) Serialize(ctx context.Context, topic string, isKey bool, v any) ([]byte, error) {
	switch x := v.(type) {
	case T:
		return s.Encode(ctx, topic, isKey, x)
	case *T:
		if x == nil {
			return nil, bulwark.Permanent(&EncodeError{Reason: "nil pointer"})
		}
		return s.Encode(ctx, topic, isKey, *x)
	}
	return nil, bulwark.Permanent(&EncodeError{Reason: fmt.Sprintf("got %T, want %s", v, reflect.TypeFor[T]())})
}

// Deserialize is [StructSerde.Decode] returning the T as an any.
func (s *StructSerde[T]) Deserialize(ctx context.Context, topic string, isKey bool, data []byte) (any, error) {
	v, err := s.Decode(ctx, topic, isKey, data)
	if err != nil {
		return nil, err
	}
	return v, nil
}
