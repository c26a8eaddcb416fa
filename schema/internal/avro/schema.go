package avro

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/linkedin/goavro/v2"
)

// typeKind is the kind of an Avro type.
type typeKind int

const (
	kindNull typeKind = iota
	kindBoolean
	kindInt
	kindLong
	kindFloat
	kindDouble
	kindBytes
	kindString
	kindRecord
	kindEnum
	kindArray
	kindMap
	kindUnion
	kindFixed
)

var primitiveKinds = map[string]typeKind{
	"null": kindNull, "boolean": kindBoolean, "int": kindInt, "long": kindLong,
	"float": kindFloat, "double": kindDouble, "bytes": kindBytes, "string": kindString,
}

func (k typeKind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBoolean:
		return "boolean"
	case kindInt:
		return "int"
	case kindLong:
		return "long"
	case kindFloat:
		return "float"
	case kindDouble:
		return "double"
	case kindBytes:
		return "bytes"
	case kindString:
		return "string"
	case kindRecord:
		return "record"
	case kindEnum:
		return "enum"
	case kindArray:
		return "array"
	case kindMap:
		return "map"
	case kindUnion:
		return "union"
	case kindFixed:
		return "fixed"
	}
	return "unknown"
}

// Type is a parsed Avro schema. Named types are shared pointers, so a
// recursive schema is a cyclic graph.
type Type struct {
	kind    typeKind
	name    string   // full name of a record, enum or fixed
	aliases []string // full names
	logical string   // logicalType, if any
	// decimal
	precision, scale int

	fields []*field // record

	symbols        []string // enum
	enumDefault    string
	hasEnumDefault bool

	items  *Type // array
	values *Type // map

	branches []*Type // union

	size int // fixed

	// minSize is the fewest bytes a value takes, set by NewGuard before
	// the type is shared.
	minSize int
}

type field struct {
	name       string
	aliases    []string
	typ        *Type
	def        any // JSON value, numbers as json.Number
	hasDefault bool
}

// shortName is the name without its namespace.
func (t *Type) shortName() string {
	if i := strings.LastIndexByte(t.name, '.'); i >= 0 {
		return t.name[i+1:]
	}
	return t.name
}

// describe names the type for reasons and error messages.
func (t *Type) describe() string {
	switch t.kind {
	case kindRecord, kindEnum, kindFixed:
		return t.kind.String() + " " + t.name
	case kindArray:
		return "array<" + t.items.describe() + ">"
	case kindMap:
		return "map<" + t.values.describe() + ">"
	case kindUnion:
		parts := make([]string, len(t.branches))
		for i, b := range t.branches {
			parts[i] = b.describe()
		}
		return "union[" + strings.Join(parts, ", ") + "]"
	}
	if t.logical != "" {
		return t.kind.String() + "(" + t.logical + ")"
	}
	return t.kind.String()
}

// unionBranchName is the key goavro uses for a union branch in its native
// form: the full name of a named type, "long.timestamp-millis" style names
// for the logical types it knows, the type name otherwise.
func (t *Type) unionBranchName() string {
	switch t.kind {
	case kindRecord, kindEnum, kindFixed:
		return t.name
	case kindArray:
		return "array"
	case kindMap:
		return "map"
	}
	switch t.kind.String() + "." + t.logical {
	case "long.timestamp-millis", "long.timestamp-micros", "int.time-millis",
		"long.time-micros", "int.date", "bytes.decimal":
		return t.kind.String() + "." + t.logical
	}
	return t.kind.String()
}

// Compiled is a schema parsed once: goavro's codec, which validates the
// schema and does the binary encoding, and our tree of it.
//
// Why a tree beside goavro: goavro (v2.15) keeps its parsed form private
// (a Codec is four closures and the schema text) and does not resolve a
// writer schema against a reader schema, check compatibility or map Go
// structs. Those need the types, fields, defaults and aliases.
//
// Why the tree validates on its own as well: it is what CanonicalForm,
// SameSchema and CheckCompatibility (and so schematest's registry) judge a
// schema by, with the Avro specification's rules, as the Java
// implementation behind the Confluent registry applies them. goavro is
// stricter on logical types (it refuses a decimal without a precision or
// with a scale above it, where the specification says to ignore an
// invalid logical type and use the underlying type) and laxer elsewhere (a name defined
// twice, repeated enum symbols, union in union, 1.5 for an int), so
// judging by goavro would change those APIs' verdicts. A serde needs both:
// goavro must be able to encode the schema, and it must be valid Avro.
type Compiled struct {
	Text  string
	Type  *Type
	Canon string // CanonicalForm(Type)
	Codec *goavro.Codec

	guardOnce sync.Once
	guard     *Guard // see Guard
}

// Compile parses text for a serde: goavro's codec and the tree. An error
// is the reason the schema is invalid.
func Compile(text string) (c *Compiled, err error) {
	// goavro asserts on some attribute types; a schema from a registry is
	// input, so a panic there is an invalid schema, not a crash.
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("goavro: %v", p)
		}
	}()
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return nil, err
	}
	t, err := Parse(text)
	if err != nil {
		return nil, err
	}
	return &Compiled{Text: text, Type: t, Canon: CanonicalForm(t), Codec: codec}, nil
}

// Parse parses an Avro schema in its JSON form into the tree, without
// goavro (which costs about three times as much). Errors describe the
// first problem found.
func Parse(text string) (*Type, error) {
	// UseNumber: defaults keep their exact digits (a long above 2^53).
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("schema has trailing data after the JSON value")
	}
	p := &avroParser{named: map[string]*Type{}}
	return p.parse(v, "")
}

// Guard returns the pre-decode scan for this schema as a writer schema,
// built once: several schema IDs and serdes may share one Compiled schema.
func (c *Compiled) Guard() *Guard {
	c.guardOnce.Do(func() { c.guard = NewGuard(c.Type) })
	return c.guard
}

type avroParser struct {
	named map[string]*Type
}

func fullName(name, namespace string) string {
	if strings.Contains(name, ".") || namespace == "" {
		return name
	}
	return namespace + "." + name
}

func namespaceOf(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i]
	}
	return ""
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

func validFullName(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if !validName(part) {
			return false
		}
	}
	return true
}

func (p *avroParser) parse(v any, ns string) (*Type, error) {
	switch v := v.(type) {
	case string:
		if k, ok := primitiveKinds[v]; ok {
			return &Type{kind: k}, nil
		}
		if t, ok := p.named[fullName(v, ns)]; ok {
			return t, nil
		}
		if t, ok := p.named[v]; ok {
			return t, nil
		}
		return nil, fmt.Errorf("unknown type %q", v)
	case []any:
		u := &Type{kind: kindUnion}
		seen := map[string]bool{}
		for _, b := range v {
			bt, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			if bt.kind == kindUnion {
				return nil, fmt.Errorf("union contains a union directly")
			}
			key := bt.unionBranchName()
			if seen[key] {
				return nil, fmt.Errorf("union has two branches of type %s", key)
			}
			seen[key] = true
			u.branches = append(u.branches, bt)
		}
		if len(u.branches) == 0 {
			return nil, fmt.Errorf("union has no branches")
		}
		return u, nil
	case map[string]any:
		return p.parseObject(v, ns)
	}
	return nil, fmt.Errorf("type must be a string, an array or an object, not %T", v)
}

func stringAttr(m map[string]any, key string) (string, bool, error) {
	v, ok := m[key]
	if !ok {
		return "", false, nil
	}
	s, isString := v.(string)
	if !isString {
		return "", true, fmt.Errorf("%q must be a string", key)
	}
	return s, true, nil
}

func intAttr(m map[string]any, key string) (int, bool, error) {
	v, ok := m[key]
	if !ok {
		return 0, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, true, fmt.Errorf("%q must be a number", key)
	}
	i, err := strconv.Atoi(n.String())
	if err != nil || i < 0 {
		return 0, true, fmt.Errorf("%q must be a non-negative integer", key)
	}
	return i, true, nil
}

func (p *avroParser) parseObject(m map[string]any, ns string) (*Type, error) {
	rawType, ok := m["type"]
	if !ok {
		return nil, fmt.Errorf("object schema has no \"type\"")
	}
	typeName, isString := rawType.(string)
	if !isString {
		// {"type": {...}} or {"type": [...]}: the attributes around it
		// other than type do not change the type.
		return p.parse(rawType, ns)
	}
	logical, _, err := stringAttr(m, "logicalType")
	if err != nil {
		return nil, err
	}
	if k, ok := primitiveKinds[typeName]; ok {
		t := &Type{kind: k, logical: logical}
		if logical == "decimal" {
			t.precision, _, err = intAttr(m, "precision")
			if err != nil {
				return nil, err
			}
			t.scale, _, err = intAttr(m, "scale")
			if err != nil {
				return nil, err
			}
		}
		return t, nil
	}
	switch typeName {
	case "array":
		items, ok := m["items"]
		if !ok {
			return nil, fmt.Errorf("array has no \"items\"")
		}
		it, err := p.parse(items, ns)
		if err != nil {
			return nil, err
		}
		return &Type{kind: kindArray, items: it, logical: logical}, nil
	case "map":
		values, ok := m["values"]
		if !ok {
			return nil, fmt.Errorf("map has no \"values\"")
		}
		vt, err := p.parse(values, ns)
		if err != nil {
			return nil, err
		}
		return &Type{kind: kindMap, values: vt, logical: logical}, nil
	case "record", "error", "enum", "fixed":
		return p.parseNamed(typeName, m, ns, logical)
	}
	// A named type referenced as {"type": "Name"}.
	return p.parse(typeName, ns)
}

func (p *avroParser) parseNamed(typeName string, m map[string]any, ns, logical string) (*Type, error) {
	name, ok, err := stringAttr(m, "name")
	if err != nil {
		return nil, err
	}
	if !ok || name == "" {
		return nil, fmt.Errorf("%s has no name", typeName)
	}
	namespace, hasNS, err := stringAttr(m, "namespace")
	if err != nil {
		return nil, err
	}
	if !hasNS {
		namespace = ns
	}
	full := fullName(name, namespace)
	if !validFullName(full) {
		return nil, fmt.Errorf("invalid name %q", full)
	}
	if _, dup := p.named[full]; dup {
		return nil, fmt.Errorf("type %s is defined twice", full)
	}
	if _, prim := primitiveKinds[full]; prim {
		return nil, fmt.Errorf("a named type cannot be called %q", full)
	}
	t := &Type{name: full, logical: logical}
	childNS := namespaceOf(full)
	t.aliases, err = aliasesAttr(m, childNS)
	if err != nil {
		return nil, err
	}
	p.named[full] = t // before the fields, so recursive references resolve
	switch typeName {
	case "record", "error":
		t.kind = kindRecord
		rawFields, ok := m["fields"].([]any)
		if !ok {
			return nil, fmt.Errorf("record %s has no \"fields\" array", full)
		}
		seen := map[string]bool{}
		for _, rf := range rawFields {
			fm, ok := rf.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record %s: a field must be an object", full)
			}
			fname, _, err := stringAttr(fm, "name")
			if err != nil {
				return nil, fmt.Errorf("record %s: %w", full, err)
			}
			if !validName(fname) {
				return nil, fmt.Errorf("record %s: invalid field name %q", full, fname)
			}
			if seen[fname] {
				return nil, fmt.Errorf("record %s: field %s appears twice", full, fname)
			}
			seen[fname] = true
			ftRaw, ok := fm["type"]
			if !ok {
				return nil, fmt.Errorf("record %s: field %s has no type", full, fname)
			}
			ft, err := p.parse(ftRaw, childNS)
			if err != nil {
				return nil, fmt.Errorf("record %s: field %s: %w", full, fname, err)
			}
			f := &field{name: fname, typ: ft}
			f.def, f.hasDefault = fm["default"]
			if f.aliases, err = fieldAliases(fm); err != nil {
				return nil, fmt.Errorf("record %s: field %s: %w", full, fname, err)
			}
			if f.hasDefault {
				if err := checkDefault(ft, f.def); err != nil {
					return nil, fmt.Errorf("record %s: field %s: invalid default: %w", full, fname, err)
				}
			}
			t.fields = append(t.fields, f)
		}
	case "enum":
		t.kind = kindEnum
		rawSymbols, ok := m["symbols"].([]any)
		if !ok {
			return nil, fmt.Errorf("enum %s has no \"symbols\" array", full)
		}
		seen := map[string]bool{}
		for _, rs := range rawSymbols {
			s, ok := rs.(string)
			if !ok || !validName(s) || seen[s] {
				return nil, fmt.Errorf("enum %s: invalid or repeated symbol %v", full, rs)
			}
			seen[s] = true
			t.symbols = append(t.symbols, s)
		}
		if d, ok, err := stringAttr(m, "default"); err != nil {
			return nil, fmt.Errorf("enum %s: %w", full, err)
		} else if ok {
			if !seen[d] {
				return nil, fmt.Errorf("enum %s: default %q is not a symbol", full, d)
			}
			t.enumDefault, t.hasEnumDefault = d, true
		}
	case "fixed":
		t.kind = kindFixed
		size, ok, err := intAttr(m, "size")
		if err != nil || !ok {
			return nil, fmt.Errorf("fixed %s needs a non-negative integer \"size\"", full)
		}
		t.size = size
		if logical == "decimal" {
			if t.precision, _, err = intAttr(m, "precision"); err != nil {
				return nil, fmt.Errorf("fixed %s: %w", full, err)
			}
			if t.scale, _, err = intAttr(m, "scale"); err != nil {
				return nil, fmt.Errorf("fixed %s: %w", full, err)
			}
		}
	}
	return t, nil
}

func aliasesAttr(m map[string]any, ns string) ([]string, error) {
	names, err := fieldAliases(m)
	for i, a := range names {
		names[i] = fullName(a, ns)
	}
	return names, err
}

func fieldAliases(m map[string]any) ([]string, error) {
	raw, ok := m["aliases"]
	if !ok {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("\"aliases\" must be an array of strings")
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("\"aliases\" must be an array of strings")
		}
		out = append(out, s)
	}
	return out, nil
}

// checkDefault reports whether v, a JSON value, is a valid default for t.
// A union's default matches its first branch.
func checkDefault(t *Type, v any) error {
	_, err := defaultToNative(t, v)
	return err
}

// CanonicalForm returns a normalised JSON text of the schema: full names,
// keys in a fixed order, no doc or other attributes that do not change
// what the schema means, each named type spelled out once. Two schemas
// that differ only in formatting, key order or namespace spelling have the
// same canonical form. Unlike Avro's Parsing Canonical Form it keeps
// defaults, aliases and logical types, which matter to resolution.
//
// Why not goavro's CanonicalSchema: that is the Parsing Canonical Form,
// which drops defaults and aliases (so a schema change that breaks
// resolution would compare equal) and orders keys name-first; this form
// is the API's ([CanonicalForm]) and the registry client's cache key.
func CanonicalForm(t *Type) string {
	var b bytes.Buffer
	writeCanonical(&b, t, map[string]bool{})
	return b.String()
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}

func writeCanonical(b *bytes.Buffer, t *Type, defined map[string]bool) {
	switch t.kind {
	case kindRecord, kindEnum, kindFixed:
		if defined[t.name] {
			writeJSONString(b, t.name)
			return
		}
		defined[t.name] = true
		b.WriteString(`{"type":"`)
		b.WriteString(t.kind.String())
		b.WriteString(`","name":`)
		writeJSONString(b, t.name)
		if len(t.aliases) > 0 {
			b.WriteString(`,"aliases":`)
			writeStrings(b, t.aliases)
		}
		switch t.kind {
		case kindRecord:
			b.WriteString(`,"fields":[`)
			for i, f := range t.fields {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"name":`)
				writeJSONString(b, f.name)
				b.WriteString(`,"type":`)
				writeCanonical(b, f.typ, defined)
				if f.hasDefault {
					b.WriteString(`,"default":`)
					enc, _ := json.Marshal(f.def)
					b.Write(enc)
				}
				if len(f.aliases) > 0 {
					b.WriteString(`,"aliases":`)
					writeStrings(b, f.aliases)
				}
				b.WriteByte('}')
			}
			b.WriteByte(']')
		case kindEnum:
			b.WriteString(`,"symbols":`)
			writeStrings(b, t.symbols)
			if t.hasEnumDefault {
				b.WriteString(`,"default":`)
				writeJSONString(b, t.enumDefault)
			}
		case kindFixed:
			b.WriteString(`,"size":`)
			b.WriteString(strconv.Itoa(t.size))
		}
		writeLogical(b, t)
		b.WriteByte('}')
	case kindArray:
		b.WriteString(`{"type":"array","items":`)
		writeCanonical(b, t.items, defined)
		writeLogical(b, t)
		b.WriteByte('}')
	case kindMap:
		b.WriteString(`{"type":"map","values":`)
		writeCanonical(b, t.values, defined)
		writeLogical(b, t)
		b.WriteByte('}')
	case kindUnion:
		b.WriteByte('[')
		for i, br := range t.branches {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, br, defined)
		}
		b.WriteByte(']')
	default:
		if t.logical == "" {
			writeJSONString(b, t.kind.String())
			return
		}
		b.WriteString(`{"type":"`)
		b.WriteString(t.kind.String())
		b.WriteByte('"')
		writeLogical(b, t)
		b.WriteByte('}')
	}
}

func writeLogical(b *bytes.Buffer, t *Type) {
	if t.logical == "" {
		return
	}
	b.WriteString(`,"logicalType":`)
	writeJSONString(b, t.logical)
	if t.logical == "decimal" {
		fmt.Fprintf(b, `,"precision":%d,"scale":%d`, t.precision, t.scale)
	}
}

func writeStrings(b *bytes.Buffer, list []string) {
	enc, _ := json.Marshal(list)
	b.Write(enc)
}

// Name is the full name of a record, enum or fixed, "" for other types.
func (t *Type) Name() string {
	if isNamed(t) {
		return t.name
	}
	return ""
}
