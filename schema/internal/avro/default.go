package avro

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
)

// defaultToNative converts a field default, a JSON value, to the native
// form goavro uses for t. A union's default belongs to its first branch.
//
// Why goavro does not do this: goavro converts defaults when it builds a
// codec but keeps them private, and converts them differently: bytes
// defaults as UTF-8 rather than code points 0-255 (the spec's rule),
// 1.5 truncated for an int, a timestamp-millis default kept as a float64,
// the string "null" taken for null. A resolved record's defaults
// would change value or Go type; the parse also rejects the defaults
// goavro lets through (checkDefault).
func defaultToNative(t *Type, v any) (any, error) {
	switch t.kind {
	case kindNull:
		if v != nil {
			return nil, fmt.Errorf("null default must be null")
		}
		return nil, nil
	case kindBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("boolean default must be true or false")
		}
		return b, nil
	case kindInt:
		n, err := jsonInt(v, 32)
		if err != nil {
			return nil, err
		}
		return logicalFromInt(t, int32(n)), nil
	case kindLong:
		n, err := jsonInt(v, 64)
		if err != nil {
			return nil, err
		}
		return logicalFromLong(t, n), nil
	case kindFloat, kindDouble:
		num, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s default must be a number", t.kind)
		}
		f, err := strconv.ParseFloat(num.String(), 64)
		if err != nil {
			return nil, fmt.Errorf("%s default: %w", t.kind, err)
		}
		if t.kind == kindFloat {
			return float32(f), nil
		}
		return f, nil
	case kindString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("string default must be a string")
		}
		return s, nil
	case kindBytes, kindFixed:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s default must be a string", t.kind)
		}
		// Avro writes bytes defaults as strings whose code points 0-255 are
		// the bytes.
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 255 {
				return nil, fmt.Errorf("%s default has a code point above 255", t.kind)
			}
			out = append(out, byte(r))
		}
		if t.kind == kindFixed && len(out) != t.size {
			return nil, fmt.Errorf("fixed default has %d bytes, want %d", len(out), t.size)
		}
		if t.logical == "decimal" && t.kind == kindBytes {
			return decimalFromBytes(out, t.scale), nil
		}
		return out, nil
	case kindEnum:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("enum default must be a string")
		}
		for _, sym := range t.symbols {
			if sym == s {
				return s, nil
			}
		}
		return nil, fmt.Errorf("enum default %q is not a symbol of %s", s, t.name)
	case kindArray:
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("array default must be an array")
		}
		out := make([]any, len(list))
		for i, item := range list {
			n, err := defaultToNative(t.items, item)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case kindMap:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("map default must be an object")
		}
		out := make(map[string]any, len(m))
		for k, item := range m {
			n, err := defaultToNative(t.values, item)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case kindRecord:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("record default must be an object")
		}
		out := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			fv, present := m[f.name]
			if !present {
				if !f.hasDefault {
					return nil, fmt.Errorf("record default lacks field %s", f.name)
				}
				fv = f.def
			}
			n, err := defaultToNative(f.typ, fv)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
			out[f.name] = n
		}
		return out, nil
	case kindUnion:
		first := t.branches[0]
		n, err := defaultToNative(first, v)
		if err != nil {
			return nil, fmt.Errorf("union default must match its first branch (%s): %w", first.describe(), err)
		}
		return wrapUnion(first, n), nil
	}
	return nil, fmt.Errorf("unsupported type %s", t.kind)
}

// wrapUnion puts a branch value in goavro's native union form.
func wrapUnion(branch *Type, v any) any {
	if branch.kind == kindNull {
		return nil
	}
	return map[string]any{branch.unionBranchName(): v}
}

func jsonInt(v any, bits int) (int64, error) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("integer default must be a number")
	}
	n, err := strconv.ParseInt(num.String(), 10, bits)
	if err != nil {
		// 1.0 is a valid integer in JSON's eyes.
		f, ferr := strconv.ParseFloat(num.String(), 64)
		if ferr != nil || f != math.Trunc(f) || f > math.MaxInt64 || f < math.MinInt64 {
			return 0, fmt.Errorf("integer default %s: %w", num, err)
		}
		n = int64(f)
		if bits == 32 && (n > math.MaxInt32 || n < math.MinInt32) {
			return 0, fmt.Errorf("int default %s out of range", num)
		}
	}
	return n, nil
}

// logicalFromLong converts a long to goavro's native value for t's logical type.
func logicalFromLong(t *Type, n int64) any {
	switch t.logical {
	case "timestamp-millis":
		return time.UnixMilli(n).UTC()
	case "timestamp-micros":
		return time.UnixMicro(n).UTC()
	case "time-micros":
		return time.Duration(n) * time.Microsecond
	}
	return n
}

func logicalFromInt(t *Type, n int32) any {
	switch t.logical {
	case "date":
		return time.Unix(int64(n)*86400, 0).UTC()
	case "time-millis":
		return time.Duration(n) * time.Millisecond
	}
	return n
}

// decimalFromBytes reads a two's-complement big-endian unscaled value.
func decimalFromBytes(b []byte, scale int) *big.Rat {
	i := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		i.Sub(i, new(big.Int).Lsh(big.NewInt(1), uint(len(b)*8)))
	}
	return new(big.Rat).SetFrac(i, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
}
