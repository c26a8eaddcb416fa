package avro

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"time"
)

// Why goavro does not do this: goavro reads and writes only its native
// forms (map[string]any records, []any arrays, ...); it has no struct
// binding. This file maps Go types onto those forms, checked once per
// (Go type, schema), and leaves the encoding to goavro.

// GoCodec converts between a Go value and goavro's native value of one
// Avro type. Built once per (Go type, schema) by CompileGo.
type GoCodec struct {
	ToNative   func(v reflect.Value) (any, error)
	FromNative func(n any, dst reflect.Value) error
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	ratType      = reflect.TypeFor[*big.Rat]()
)

type goPair struct {
	typ reflect.Type
	avr *Type
}

type goCompiler struct {
	memo map[goPair]*GoCodec
}

// CompileGo builds the codec mapping Go type t to Avro type a.
func CompileGo(t reflect.Type, a *Type) (*GoCodec, error) {
	c := &goCompiler{memo: map[goPair]*GoCodec{}}
	return c.compile(t, a, "")
}

func mismatch(path string, t reflect.Type, a *Type) error {
	return fmt.Errorf("%sGo type %s cannot hold Avro %s", at(path), t, a.describe())
}

func (c *goCompiler) compile(t reflect.Type, a *Type, path string) (*GoCodec, error) {
	key := goPair{t, a}
	if gc, ok := c.memo[key]; ok {
		return gc, nil // recursive: filled in below before use
	}
	gc := &GoCodec{}
	c.memo[key] = gc
	built, err := c.build(t, a, path)
	if err != nil {
		delete(c.memo, key)
		return nil, err
	}
	*gc = *built
	return gc, nil
}

func (c *goCompiler) build(t reflect.Type, a *Type, path string) (*GoCodec, error) {
	if a.kind == kindUnion {
		return c.union(t, a, path)
	}
	if t.Kind() == reflect.Pointer && t != ratType {
		// A pointer for a type that is not a nullable union: nil is an error.
		elem, err := c.compile(t.Elem(), a, path)
		if err != nil {
			return nil, err
		}
		return &GoCodec{
			ToNative: func(v reflect.Value) (any, error) {
				if v.IsNil() {
					return nil, fmt.Errorf("%snil pointer for non-nullable %s", at(path), a.describe())
				}
				return elem.ToNative(v.Elem())
			},
			FromNative: func(n any, dst reflect.Value) error {
				p := reflect.New(t.Elem())
				if err := elem.FromNative(n, p.Elem()); err != nil {
					return err
				}
				dst.Set(p)
				return nil
			},
		}, nil
	}
	switch a.kind {
	case kindBoolean:
		if t.Kind() != reflect.Bool {
			return nil, mismatch(path, t, a)
		}
		return &GoCodec{
			ToNative: func(v reflect.Value) (any, error) { return v.Bool(), nil },
			FromNative: func(n any, dst reflect.Value) error {
				b, ok := n.(bool)
				if !ok {
					return fmt.Errorf("%sexpected boolean, got %T", at(path), n)
				}
				dst.SetBool(b)
				return nil
			},
		}, nil
	case kindInt, kindLong:
		return c.integer(t, a, path)
	case kindFloat, kindDouble:
		if t.Kind() != reflect.Float32 && t.Kind() != reflect.Float64 {
			return nil, mismatch(path, t, a)
		}
		single := a.kind == kindFloat
		return &GoCodec{
			ToNative: func(v reflect.Value) (any, error) {
				if single {
					return float32(v.Float()), nil
				}
				return v.Float(), nil
			},
			FromNative: func(n any, dst reflect.Value) error {
				switch f := n.(type) {
				case float32:
					dst.SetFloat(float64(f))
				case float64:
					dst.SetFloat(f)
				default:
					return fmt.Errorf("%sexpected a float, got %T", at(path), n)
				}
				return nil
			},
		}, nil
	case kindString, kindEnum:
		if t.Kind() != reflect.String {
			return nil, mismatch(path, t, a)
		}
		return &GoCodec{
			ToNative: func(v reflect.Value) (any, error) { return v.String(), nil },
			FromNative: func(n any, dst reflect.Value) error {
				s, ok := n.(string)
				if !ok {
					return fmt.Errorf("%sexpected a string, got %T", at(path), n)
				}
				dst.SetString(s)
				return nil
			},
		}, nil
	case kindBytes, kindFixed:
		return c.bytes(t, a, path)
	case kindArray:
		if t.Kind() != reflect.Slice {
			return nil, mismatch(path, t, a)
		}
		elem, err := c.compile(t.Elem(), a.items, path+"[]")
		if err != nil {
			return nil, err
		}
		return &GoCodec{
			ToNative: func(v reflect.Value) (any, error) {
				out := make([]any, v.Len())
				for i := range out {
					var err error
					if out[i], err = elem.ToNative(v.Index(i)); err != nil {
						return nil, err
					}
				}
				return out, nil
			},
			FromNative: func(n any, dst reflect.Value) error {
				in, ok := n.([]any)
				if !ok {
					return fmt.Errorf("%sexpected an array, got %T", at(path), n)
				}
				s := reflect.MakeSlice(t, len(in), len(in))
				for i, item := range in {
					if err := elem.FromNative(item, s.Index(i)); err != nil {
						return err
					}
				}
				dst.Set(s)
				return nil
			},
		}, nil
	case kindMap:
		if t.Kind() != reflect.Map || t.Key().Kind() != reflect.String {
			return nil, mismatch(path, t, a)
		}
		elem, err := c.compile(t.Elem(), a.values, path+"{}")
		if err != nil {
			return nil, err
		}
		return &GoCodec{
			ToNative: func(v reflect.Value) (any, error) {
				out := make(map[string]any, v.Len())
				it := v.MapRange()
				for it.Next() {
					nv, err := elem.ToNative(it.Value())
					if err != nil {
						return nil, err
					}
					out[it.Key().String()] = nv
				}
				return out, nil
			},
			FromNative: func(n any, dst reflect.Value) error {
				in, ok := n.(map[string]any)
				if !ok {
					return fmt.Errorf("%sexpected a map, got %T", at(path), n)
				}
				m := reflect.MakeMapWithSize(t, len(in))
				for k, item := range in {
					ev := reflect.New(t.Elem()).Elem()
					if err := elem.FromNative(item, ev); err != nil {
						return err
					}
					m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
				}
				dst.Set(m)
				return nil
			},
		}, nil
	case kindRecord:
		return c.record(t, a, path)
	}
	return nil, mismatch(path, t, a)
}

func (c *goCompiler) integer(t reflect.Type, a *Type, path string) (*GoCodec, error) {
	switch {
	case t == timeType && (a.logical == "timestamp-millis" || a.logical == "timestamp-micros" || a.logical == "date"):
		return &GoCodec{
			ToNative: func(v reflect.Value) (any, error) { return v.Interface(), nil },
			FromNative: func(n any, dst reflect.Value) error {
				tm, ok := n.(time.Time)
				if !ok {
					return fmt.Errorf("%sexpected a time, got %T", at(path), n)
				}
				dst.Set(reflect.ValueOf(tm))
				return nil
			},
		}, nil
	case t == durationType && (a.logical == "time-millis" || a.logical == "time-micros"):
		return &GoCodec{
			ToNative: func(v reflect.Value) (any, error) { return time.Duration(v.Int()), nil },
			FromNative: func(n any, dst reflect.Value) error {
				d, ok := n.(time.Duration)
				if !ok {
					return fmt.Errorf("%sexpected a duration, got %T", at(path), n)
				}
				dst.SetInt(int64(d))
				return nil
			},
		}, nil
	}
	if a.logical != "" && a.logical != "timestamp-millis" && a.logical != "timestamp-micros" {
		// goavro's native value is a time or a duration: an integer field
		// cannot hold it.
		return nil, mismatch(path, t, a)
	}
	signed := false
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		signed = true
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
	default:
		return nil, mismatch(path, t, a)
	}
	is32 := a.kind == kindInt
	return &GoCodec{
		ToNative: func(v reflect.Value) (any, error) {
			var n int64
			if signed {
				n = v.Int()
			} else {
				n = int64(v.Uint())
			}
			if is32 {
				if n < math.MinInt32 || n > math.MaxInt32 {
					return nil, fmt.Errorf("%s%d overflows an Avro int", at(path), n)
				}
				return int32(n), nil
			}
			return logicalFromLong(a, n), nil
		},
		FromNative: func(n any, dst reflect.Value) error {
			var x int64
			switch v := n.(type) {
			case int32:
				x = int64(v)
			case int64:
				x = v
			case time.Time:
				x = rawLong(a, v)
			default:
				return fmt.Errorf("%sexpected an integer, got %T", at(path), n)
			}
			if signed {
				if dst.OverflowInt(x) {
					return fmt.Errorf("%s%d overflows %s", at(path), x, t)
				}
				dst.SetInt(x)
				return nil
			}
			if x < 0 || dst.OverflowUint(uint64(x)) {
				return fmt.Errorf("%s%d overflows %s", at(path), x, t)
			}
			dst.SetUint(uint64(x))
			return nil
		},
	}, nil
}

func (c *goCompiler) bytes(t reflect.Type, a *Type, path string) (*GoCodec, error) {
	if a.logical == "decimal" {
		if t != ratType {
			return nil, mismatch(path, t, a)
		}
		return &GoCodec{
			ToNative: func(v reflect.Value) (any, error) {
				if v.IsNil() {
					return nil, fmt.Errorf("%snil *big.Rat for a decimal", at(path))
				}
				return v.Interface(), nil
			},
			FromNative: func(n any, dst reflect.Value) error {
				r, ok := n.(*big.Rat)
				if !ok {
					return fmt.Errorf("%sexpected a decimal, got %T", at(path), n)
				}
				dst.Set(reflect.ValueOf(r))
				return nil
			},
		}, nil
	}
	fixedArray := t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8
	if !(t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8) && !(fixedArray && a.kind == kindFixed && t.Len() == a.size) {
		return nil, mismatch(path, t, a)
	}
	return &GoCodec{
		ToNative: func(v reflect.Value) (any, error) {
			if fixedArray {
				b := make([]byte, v.Len())
				reflect.Copy(reflect.ValueOf(b), v)
				return b, nil
			}
			return v.Bytes(), nil
		},
		FromNative: func(n any, dst reflect.Value) error {
			b, ok := n.([]byte)
			if !ok {
				return fmt.Errorf("%sexpected bytes, got %T", at(path), n)
			}
			if fixedArray {
				if len(b) != dst.Len() {
					return fmt.Errorf("%sexpected %d bytes, got %d", at(path), dst.Len(), len(b))
				}
				reflect.Copy(dst, reflect.ValueOf(b))
				return nil
			}
			// A copy: decoded bytes share the record's buffer.
			dst.SetBytes(append(make([]byte, 0, len(b)), b...))
			return nil
		},
	}, nil
}

// union maps a two-branch union with null to a pointer (or to a slice or
// map, nil meaning null).
func (c *goCompiler) union(t reflect.Type, a *Type, path string) (*GoCodec, error) {
	if len(a.branches) != 2 || (a.branches[0].kind != kindNull && a.branches[1].kind != kindNull) {
		return nil, fmt.Errorf("%sonly unions of null and one other type map to Go (as a pointer), not %s", at(path), a.describe())
	}
	other := a.branches[0]
	if other.kind == kindNull {
		other = a.branches[1]
	}
	name := other.unionBranchName()
	var elem *GoCodec
	var err error
	nilable := t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map
	if !nilable || t == ratType {
		return nil, fmt.Errorf("%sGo type %s cannot hold the nullable %s: use a pointer", at(path), t, a.describe())
	}
	if t.Kind() == reflect.Pointer {
		elem, err = c.compile(t.Elem(), other, path)
	} else {
		elem, err = c.compile(t, other, path)
	}
	if err != nil {
		return nil, err
	}
	return &GoCodec{
		ToNative: func(v reflect.Value) (any, error) {
			if v.IsNil() {
				return nil, nil
			}
			if t.Kind() == reflect.Pointer {
				v = v.Elem()
			}
			n, err := elem.ToNative(v)
			if err != nil {
				return nil, err
			}
			return map[string]any{name: n}, nil
		},
		FromNative: func(n any, dst reflect.Value) error {
			if n == nil {
				dst.SetZero()
				return nil
			}
			m, ok := n.(map[string]any)
			if !ok || len(m) != 1 {
				return fmt.Errorf("%sexpected a union value, got %T", at(path), n)
			}
			inner, ok := m[name]
			if !ok {
				return fmt.Errorf("%sunexpected union branch", at(path))
			}
			if t.Kind() != reflect.Pointer {
				return elem.FromNative(inner, dst)
			}
			p := reflect.New(t.Elem())
			if err := elem.FromNative(inner, p.Elem()); err != nil {
				return err
			}
			dst.Set(p)
			return nil
		},
	}, nil
}

type structField struct {
	name  string
	index []int
	codec *GoCodec
}

func (c *goCompiler) record(t reflect.Type, a *Type, path string) (*GoCodec, error) {
	if t.Kind() != reflect.Struct {
		return nil, mismatch(path, t, a)
	}
	byName, err := structFieldsByAvroName(t)
	if err != nil {
		return nil, err
	}
	fields := make([]structField, 0, len(a.fields))
	used := map[string]bool{}
	for _, f := range a.fields {
		sf, ok := byName[f.name]
		if !ok {
			sf, ok = byName[strings.ToLower(f.name)]
		}
		if !ok {
			return nil, fmt.Errorf("%s%s has no field for Avro field %s (tag one avro:%q)", at(path), t, f.name, f.name)
		}
		used[sf.Name] = true
		fc, err := c.compile(sf.Type, f.typ, join(path, f.name))
		if err != nil {
			return nil, err
		}
		fields = append(fields, structField{name: f.name, index: sf.Index, codec: fc})
	}
	for _, sf := range byName {
		if sf.Tag.Get("avro") != "" && !used[sf.Name] {
			return nil, fmt.Errorf("%s%s.%s is tagged avro:%q but record %s has no such field", at(path), t, sf.Name, sf.Tag.Get("avro"), a.name)
		}
	}
	return &GoCodec{
		ToNative: func(v reflect.Value) (any, error) {
			out := make(map[string]any, len(fields))
			for _, f := range fields {
				n, err := f.codec.ToNative(v.FieldByIndex(f.index))
				if err != nil {
					return nil, err
				}
				out[f.name] = n
			}
			return out, nil
		},
		FromNative: func(n any, dst reflect.Value) error {
			m, ok := n.(map[string]any)
			if !ok {
				return fmt.Errorf("%sexpected a record, got %T", at(path), n)
			}
			for _, f := range fields {
				if err := f.codec.FromNative(m[f.name], dst.FieldByIndex(f.index)); err != nil {
					return err
				}
			}
			return nil
		},
	}, nil
}

// structFieldsByAvroName indexes the exported fields of t by their avro tag,
// or by their lower-cased Go name when untagged. Fields tagged "-" are
// skipped.
func structFieldsByAvroName(t reflect.Type) (map[string]reflect.StructField, error) {
	out := map[string]reflect.StructField{}
	for _, sf := range reflect.VisibleFields(t) {
		if !sf.IsExported() || sf.Anonymous {
			continue
		}
		tag := sf.Tag.Get("avro")
		if tag == "-" {
			continue
		}
		name := tag
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		if prev, dup := out[name]; dup {
			return nil, fmt.Errorf("%s: fields %s and %s both map to Avro field %s", t, prev.Name, sf.Name, name)
		}
		out[name] = sf
	}
	return out, nil
}
