package schema

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/schema/internal/avro"
	"github.com/linkedin/goavro/v2"
)

// Wire format: magic byte 0, the schema ID as 4 bytes big-endian, then the
// Avro binary encoding.
const (
	magicByte    = 0
	headerLength = 5
)

// avroCore is what the map and struct serdes share: subjects, IDs,
// codecs, framing and projection.
type avroCore struct {
	reg    Registry
	cfg    serdeConfig
	local  *avro.Compiled // the schema values are given in; nil: none
	reader *avro.Compiled // the schema values are read into; nil: the writer's
	// writers holds a plan per topic, [0] for values and [1] for keys:
	// string keys hash faster than a struct key on this per-record path.
	writers [2]*flightCache[string, *writerPlan]
	readers *flightCache[int, *readerPlan]
	// schemas holds every schema this serde has parsed, by text, so that
	// each is parsed once: the serde's own schema usually comes back as
	// the writer schema of the records it reads, and IDs under several
	// subjects often share one text.
	schemas *flightCache[string, *avro.Compiled]
}

type writerPlan struct {
	subject string
	id      int
	codec   *goavro.Codec
	project avro.Resolver // local schema onto the latest one; nil: none needed
	// sizeHint is the largest encoded size seen, to allocate the output once.
	sizeHint atomic.Int64
}

type readerPlan struct {
	codec   *goavro.Codec
	guard   *avro.Guard
	project avro.Resolver
	err     error // the writer schema cannot be used: every record fails
}

func newAvroCore(reg Registry, cfg serdeConfig) (*avroCore, error) {
	if reg == nil {
		return nil, invalidConfig("nil Registry")
	}
	if cfg.strategy == nil {
		cfg.strategy = TopicNameStrategy
	}
	if cfg.useLatest {
		cfg.autoRegister = false
	}
	c := &avroCore{
		reg:     reg,
		cfg:     cfg,
		writers: [2]*flightCache[string, *writerPlan]{newFlightCache[string, *writerPlan](), newFlightCache[string, *writerPlan]()},
		readers: newFlightCache[int, *readerPlan](),
		schemas: newFlightCache[string, *avro.Compiled](),
	}
	var err error
	if cfg.schema != "" {
		if c.local, err = c.compile(cfg.schema); err != nil {
			return nil, fmt.Errorf("%w: schema: %w", ErrInvalidConfig, err)
		}
	}
	if cfg.reader != "" {
		if c.reader, err = c.compile(cfg.reader); err != nil {
			return nil, fmt.Errorf("%w: reader schema: %w", ErrInvalidConfig, err)
		}
	}
	return c, nil
}

// compile parses text once per serde (CPU only, so no context). Errors
// are not kept, as in every flightCache; an invalid writer schema is kept
// in its readerPlan instead. Errors are *InvalidSchemaError.
func (c *avroCore) compile(text string) (*avro.Compiled, error) {
	return c.schemas.get(context.Background(), text, func(context.Context) (*avro.Compiled, error) {
		parse := avro.Compile
		if c.cfg.compile != nil {
			parse = c.cfg.compile
		}
		compiled, err := parse(text)
		if err != nil {
			return nil, &InvalidSchemaError{Reason: err.Error()}
		}
		return compiled, nil
	})
}

func (c *avroCore) recordName() string {
	if c.local == nil {
		return ""
	}
	return c.local.Type.Name()
}

func (c *avroCore) writerPlan(ctx context.Context, topic string, isKey bool) (*writerPlan, error) {
	keyOrValue := 0
	if isKey {
		keyOrValue = 1
	}
	return c.writers[keyOrValue].get(ctx, topic, func(ctx context.Context) (*writerPlan, error) {
		subject, err := c.cfg.strategy(topic, isKey, c.recordName())
		if err != nil {
			return nil, err
		}
		local := c.local
		switch {
		case c.cfg.useLatest:
			latest, err := c.reg.LatestSchema(ctx, subject)
			if err != nil {
				return nil, registryFault("latest version of "+subject, err)
			}
			if schemaType(latest) != TypeAvro {
				return nil, bulwark.Permanent(fmt.Errorf("%w: latest version of %s is a %s schema", ErrInvalidSchema, subject, latest.Type))
			}
			target, err := c.compile(latest.Text)
			if err != nil {
				return nil, bulwark.Permanent(fmt.Errorf("schema: latest version of %s: %w", subject, err))
			}
			p := &writerPlan{subject: subject, id: latest.ID, codec: target.Codec}
			if local != nil && local.Canon != target.Canon {
				if p.project, err = avro.NewResolver(target.Type, local.Type); err != nil {
					return nil, bulwark.Permanent(fmt.Errorf("%w: values in the configured schema cannot be written with the latest version of %s: %v",
						ErrIncompatibleSchema, subject, err))
				}
			}
			return p, nil
		case local == nil:
			return nil, invalidConfig("no schema to serialize with: use WithSchema or WithUseLatestVersion")
		case c.cfg.autoRegister:
			id, err := c.reg.Register(ctx, subject, Schema{Type: TypeAvro, Text: local.Text})
			if err != nil {
				return nil, registryFault("registering under "+subject, err)
			}
			return &writerPlan{subject: subject, id: id, codec: local.Codec}, nil
		default:
			s, err := c.reg.Lookup(ctx, subject, Schema{Type: TypeAvro, Text: local.Text})
			if err != nil {
				return nil, registryFault("looking up the schema in "+subject, err)
			}
			return &writerPlan{subject: subject, id: s.ID, codec: local.Codec}, nil
		}
	})
}

// serialize frames the goavro native value v.
func (c *avroCore) serialize(ctx context.Context, topic string, isKey bool, v any) ([]byte, error) {
	p, err := c.writerPlan(ctx, topic, isKey)
	if err != nil {
		return nil, err
	}
	if p.project != nil {
		if v, err = p.project(v); err != nil {
			return nil, bulwark.Permanent(&EncodeError{Subject: p.subject, Reason: "projecting onto the latest schema", Err: err})
		}
	}
	out, err := p.encode(v)
	if err != nil {
		return nil, bulwark.Permanent(&EncodeError{Subject: p.subject, Reason: err.Error()})
	}
	if n := int64(len(out) - headerLength); n > p.sizeHint.Load() {
		p.sizeHint.Store(n)
	}
	return out, nil
}

func (p *writerPlan) encode(v any) (out []byte, err error) {
	// goavro dereferences some values unchecked (a nil *big.Rat); a bad
	// value must fail one call, not the process.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("encoder panic: %v", r)
		}
	}()
	buf := make([]byte, headerLength, headerLength+int(p.sizeHint.Load()))
	buf[0] = magicByte
	binary.BigEndian.PutUint32(buf[1:], uint32(p.id))
	return p.codec.BinaryFromNative(buf, v)
}

func decodeErr(id int, reason string, cause error) error {
	return bulwark.Permanent(&DecodeError{SchemaID: id, Reason: reason, Err: cause})
}

// deserialize returns the goavro native value of a framed record, in the
// reader schema's shape when there is one.
func (c *avroCore) deserialize(ctx context.Context, data []byte) (any, error) {
	if len(data) < headerLength {
		return nil, decodeErr(-1, fmt.Sprintf("record of %d bytes is shorter than the 5-byte header", len(data)), ErrWireFormat)
	}
	if data[0] != magicByte {
		return nil, decodeErr(-1, fmt.Sprintf("first byte is %#x, not the magic byte 0", data[0]), ErrWireFormat)
	}
	id := int(binary.BigEndian.Uint32(data[1:headerLength]))
	p, err := c.readers.get(ctx, id, c.readerFill(id))
	if err != nil {
		return nil, err
	}
	if p.err != nil {
		return nil, p.err
	}
	return p.decode(id, data[headerLength:])
}

func (c *avroCore) readerFill(id int) func(context.Context) (*readerPlan, error) {
	return func(ctx context.Context) (*readerPlan, error) {
		s, err := c.reg.SchemaByID(ctx, id)
		if err != nil {
			classed := registryFault(fmt.Sprintf("fetching writer schema %d", id), err)
			if bulwark.ClassOf(classed) != bulwark.ClassPermanent {
				return nil, classed
			}
			// A registry that answers does not know the ID (or refuses
			// it): the record's fault.
			reason := "the registry refused this schema ID"
			if errors.Is(err, ErrSchemaNotFound) {
				reason = "the registry has no schema with this ID"
			}
			return nil, decodeErr(id, reason, err)
		}
		return c.newReaderPlan(id, s), nil
	}
}

func (c *avroCore) newReaderPlan(id int, s Schema) *readerPlan {
	if schemaType(s) != TypeAvro {
		return &readerPlan{err: decodeErr(id, "writer schema is a "+s.Type+" schema, not Avro", ErrMalformedPayload)}
	}
	w, err := c.compile(s.Text)
	if err != nil {
		return &readerPlan{err: decodeErr(id, "writer schema does not compile", err)}
	}
	p := &readerPlan{codec: w.Codec, guard: w.Guard()}
	if c.reader != nil && c.reader.Canon != w.Canon {
		if p.project, err = avro.NewResolver(c.reader.Type, w.Type); err != nil {
			p.err = decodeErr(id, "writer schema cannot be read with the reader schema: "+err.Error(), ErrMalformedPayload)
		}
	}
	return p
}

func (p *readerPlan) decode(id int, body []byte) (v any, err error) {
	if p.guard != nil {
		if err := p.guard.Check(body); err != nil {
			return nil, decodeErr(id, err.Error(), ErrMalformedPayload)
		}
	}
	// goavro is third-party code fed with untrusted bytes; a panic in it
	// must cost one record, not the process.
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, decodeErr(id, fmt.Sprint("decoder panic: ", r), errDecoderPanic)
		}
	}()
	v, rest, err := p.codec.NativeFromBinary(body)
	if err != nil {
		return nil, decodeErr(id, err.Error(), ErrMalformedPayload)
	}
	if len(rest) != 0 {
		return nil, decodeErr(id, fmt.Sprintf("%d bytes left after the record", len(rest)), ErrMalformedPayload)
	}
	if p.project != nil {
		if v, err = p.project(v); err != nil {
			return nil, decodeErr(id, "projecting onto the reader schema: "+err.Error(), ErrMalformedPayload)
		}
	}
	return v, nil
}

// errDecoderPanic marks a recovered panic, which the fuzz test treats as a
// failure: recovery is a safety net, not a behaviour.
var errDecoderPanic = fmt.Errorf("%w (decoder panicked)", ErrMalformedPayload)

// AvroSerde serializes and deserializes goavro-style native values in the
// Confluent wire format: records as map[string]any keyed by field name,
// int as int32, long as int64, float as float32, double as float64, bytes
// and fixed as []byte, enums as string, arrays as []any, maps as
// map[string]any, timestamp-millis/micros and date as time.Time, and a
// union value as nil (null) or map[string]any{"<branch type>": value},
// the branch type being "string", "long", a record's full name, and so on.
// (On input, goavro also accepts wider Go types, e.g. int for a long.)
// It is safe for concurrent use.
type AvroSerde struct {
	core *avroCore
}

// NewAvroSerde returns a map-based serde on top of reg. Options: the
// schema to write with ([WithSchema]), the schema to read into
// ([WithReaderSchema]), subject naming, auto-registration and
// use-latest-version. A schema that does not parse is an error wrapping
// [ErrInvalidConfig] and [ErrInvalidSchema].
func NewAvroSerde(reg Registry, opts ...SerdeOption) (*AvroSerde, error) {
	cfg := serdeConfig{autoRegister: true}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	core, err := newAvroCore(reg, cfg)
	if err != nil {
		return nil, err
	}
	return &AvroSerde{core: core}, nil
}

// Serialize encodes v for the key (isKey) or value of topic. The first call
// for a topic registers or looks up the schema; later ones make no
// registry call. A value that does not fit the schema is an [EncodeError]
// of the bulwark permanent class. A registry that cannot be reached or is
// failing gives an [*UnavailableError] of the bulwark pause class; its
// answers about the schema (ErrIncompatibleSchema, ErrSubjectNotFound, ...)
// are permanent, wrapping the [*RegistryError].
func (s *AvroSerde) Serialize(ctx context.Context, topic string, isKey bool, v any) ([]byte, error) {
	return s.core.serialize(ctx, topic, isKey, v)
}

// Deserialize decodes a record in the wire format. A record that can never
// decode (wrong magic byte, unknown schema ID, truncated or garbage body,
// a writer schema the reader schema cannot read) is a [DecodeError] of the
// bulwark permanent class; a registry that cannot be reached or is failing
// gives an [*UnavailableError] of the bulwark pause class, so a consumer
// pauses instead of dead-lettering. []byte values in the result may share data's memory.
func (s *AvroSerde) Deserialize(ctx context.Context, topic string, isKey bool, data []byte) (any, error) {
	return s.core.deserialize(ctx, data)
}
