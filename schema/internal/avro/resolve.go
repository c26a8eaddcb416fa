package avro

import (
	"fmt"
	"slices"
	"time"
)

// Resolver turns a goavro native value decoded with a writer schema into
// the native value of a reader schema, following Avro's resolution rules:
// reader fields missing from the writer take their defaults, writer fields
// missing from the reader are dropped, numbers are promoted, unions are
// matched by branch. goavro decodes with the writer schema only; this is
// the other half.
//
// Why goavro does not do this: goavro v2.15 has no reader/writer schema
// resolution at all (a Codec knows one schema; its SCHEMA-EVOLUTION.md
// leaves evolution to the caller). Round-tripping a value through the
// reader's codec would fill defaults but not rename by alias, promote int
// to a long union branch, map unknown enum symbols to the default or read
// a bare value as a union, and would cost a second encode and decode.
type Resolver func(v any) (any, error)

// NewResolver plans the projection from writer to reader. It returns a nil
// Resolver when the native forms are the same (no work to do), and an
// error when the writer can never be read as the reader.
func NewResolver(reader, writer *Type) (Resolver, error) {
	b := &resolverBuilder{memo: map[typePair]*Resolver{}}
	r, err := b.build(reader, writer, "")
	if err != nil {
		return nil, err
	}
	return r, nil
}

type resolverBuilder struct {
	memo map[typePair]*Resolver
}

func (b *resolverBuilder) build(r, w *Type, path string) (Resolver, error) {
	pair := typePair{r, w}
	if slot, ok := b.memo[pair]; ok {
		// Recursive type: call through the slot, filled once built.
		return func(v any) (any, error) { return (*slot)(v) }, nil
	}
	slot := new(Resolver)
	b.memo[pair] = slot
	res, err := b.buildNew(r, w, path)
	if err != nil {
		*slot = func(any) (any, error) { return nil, err }
		return nil, err
	}
	if res == nil {
		*slot = identity
	} else {
		*slot = res
	}
	return res, nil
}

func identity(v any) (any, error) { return v, nil }

func at(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

func (b *resolverBuilder) buildNew(r, w *Type, path string) (Resolver, error) {
	if w.kind == kindUnion {
		return b.fromUnion(r, w, path)
	}
	if r.kind == kindUnion {
		i, ok := matchBranch(r, w, nil)
		if !ok {
			return nil, fmt.Errorf("%s%s cannot be read as %s", at(path), w.describe(), r.describe())
		}
		branch := r.branches[i]
		sub, err := b.build(branch, w, path)
		if err != nil {
			return nil, err
		}
		if sub == nil {
			sub = identity
		}
		return func(v any) (any, error) {
			out, err := sub(v)
			if err != nil {
				return nil, err
			}
			return wrapUnion(branch, out), nil
		}, nil
	}
	if r.kind != w.kind {
		if !promotable(r.kind, w.kind) {
			return nil, fmt.Errorf("%s%s cannot be read as %s", at(path), w.describe(), r.describe())
		}
		return promotion(r, w), nil
	}
	switch r.kind {
	case kindInt:
		if r.logical != w.logical {
			return func(v any) (any, error) { return logicalFromInt(r, rawInt(v)), nil }, nil
		}
	case kindLong:
		if r.logical != w.logical {
			return func(v any) (any, error) { return logicalFromLong(r, rawLong(w, v)), nil }, nil
		}
	case kindBytes:
		if r.logical != w.logical {
			return nil, fmt.Errorf("%scannot change logical type %q to %q", at(path), w.logical, r.logical)
		}
	case kindRecord:
		return b.record(r, w, path)
	case kindEnum:
		if !sameName(r, w) {
			return nil, fmt.Errorf("%senum %s cannot be read as enum %s", at(path), w.name, r.name)
		}
		known := map[string]bool{}
		for _, s := range r.symbols {
			known[s] = true
		}
		allKnown := true
		for _, s := range w.symbols {
			allKnown = allKnown && known[s]
		}
		if allKnown {
			return nil, nil
		}
		return func(v any) (any, error) {
			s, _ := v.(string)
			if known[s] {
				return s, nil
			}
			if r.hasEnumDefault {
				return r.enumDefault, nil
			}
			return nil, fmt.Errorf("%senum symbol %q is unknown to the reader's %s, which has no default", at(path), s, r.name)
		}, nil
	case kindFixed:
		if !sameName(r, w) || r.size != w.size {
			return nil, fmt.Errorf("%s%s cannot be read as %s", at(path), w.describe(), r.describe())
		}
	case kindArray:
		sub, err := b.build(r.items, w.items, path+"[]")
		if err != nil || sub == nil {
			return nil, err
		}
		return func(v any) (any, error) {
			in, _ := v.([]any)
			out := make([]any, len(in))
			for i, item := range in {
				var err error
				if out[i], err = sub(item); err != nil {
					return nil, err
				}
			}
			return out, nil
		}, nil
	case kindMap:
		sub, err := b.build(r.values, w.values, path+"{}")
		if err != nil || sub == nil {
			return nil, err
		}
		return func(v any) (any, error) {
			in, _ := v.(map[string]any)
			out := make(map[string]any, len(in))
			for k, item := range in {
				var err error
				if out[k], err = sub(item); err != nil {
					return nil, err
				}
			}
			return out, nil
		}, nil
	}
	return nil, nil
}

// fromUnion resolves each writer branch on its own. A branch the reader
// cannot read is an error only when a record actually uses it, as the
// Avro specification says.
type branchPlan struct {
	res Resolver
	err error
}

// unionToUnion plans one writer branch into a reader union; a nil res
// with a nil err means the value passes unchanged.
func (b *resolverBuilder) unionToUnion(r, wb *Type, path string) branchPlan {
	i, ok := matchBranch(r, wb, nil)
	if !ok {
		return branchPlan{err: fmt.Errorf("%s%s cannot be read as %s", at(path), wb.describe(), r.describe())}
	}
	rb := r.branches[i]
	sub, err := b.build(rb, wb, path)
	if err != nil {
		return branchPlan{err: err}
	}
	if sub == nil && rb.unionBranchName() == wb.unionBranchName() {
		return branchPlan{}
	}
	if sub == nil {
		sub = identity
	}
	return branchPlan{res: func(v any) (any, error) {
		out, err := sub(v)
		if err != nil {
			return nil, err
		}
		return wrapUnion(rb, out), nil
	}}
}

func (b *resolverBuilder) fromUnion(r, w *Type, path string) (Resolver, error) {
	plans := make(map[string]branchPlan, len(w.branches))
	allIdentity := r.kind == kindUnion
	for _, wb := range w.branches {
		var p branchPlan
		if r.kind == kindUnion {
			p = b.unionToUnion(r, wb, path)
			if p.res != nil || p.err != nil {
				allIdentity = false
			}
		} else {
			p.res, p.err = b.build(r, wb, path)
		}
		if p.res == nil && p.err == nil {
			p.res = identity
		}
		plans[wb.unionBranchName()] = p
	}
	if allIdentity {
		return nil, nil
	}
	return func(v any) (any, error) {
		name, inner := "null", any(nil)
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for k, val := range m {
				name, inner = k, val
			}
		} else if v != nil {
			return nil, fmt.Errorf("%sunexpected union value %T", at(path), v)
		}
		p, ok := plans[name]
		if !ok {
			return nil, fmt.Errorf("%sunknown union branch %q", at(path), name)
		}
		if p.err != nil {
			return nil, p.err
		}
		return p.res(inner)
	}, nil
}

func (b *resolverBuilder) record(r, w *Type, path string) (Resolver, error) {
	if !sameName(r, w) {
		return nil, fmt.Errorf("%srecord %s cannot be read as record %s", at(path), w.name, r.name)
	}
	type fieldPlan struct {
		name, from string
		res        Resolver
		def        any
	}
	plans := make([]fieldPlan, 0, len(r.fields))
	same := len(r.fields) == len(w.fields)
	for _, rf := range r.fields {
		wf := findWriterField(w, rf)
		if wf == nil {
			if !rf.hasDefault {
				return nil, fmt.Errorf("%sreader field %s is not written and has no default", at(path), join(r.name, rf.name))
			}
			def, err := defaultToNative(rf.typ, rf.def)
			if err != nil {
				return nil, fmt.Errorf("%sfield %s: %w", at(path), rf.name, err)
			}
			plans = append(plans, fieldPlan{name: rf.name, def: def})
			same = false
			continue
		}
		res, err := b.build(rf.typ, wf.typ, join(path, rf.name))
		if err != nil {
			return nil, err
		}
		if res != nil || wf.name != rf.name {
			same = false
		}
		plans = append(plans, fieldPlan{name: rf.name, from: wf.name, res: res})
	}
	if same {
		return nil, nil
	}
	return func(v any) (any, error) {
		in, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%sexpected a record, got %T", at(path), v)
		}
		out := make(map[string]any, len(plans))
		for _, p := range plans {
			if p.from == "" {
				out[p.name] = copyDefault(p.def)
				continue
			}
			fv := in[p.from]
			if p.res != nil {
				var err error
				if fv, err = p.res(fv); err != nil {
					return nil, err
				}
			}
			out[p.name] = fv
		}
		return out, nil
	}, nil
}

// copyDefault copies mutable defaults so that callers may change a decoded
// value without changing the next one's default.
func copyDefault(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = copyDefault(item)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, item := range v {
			out[k] = copyDefault(item)
		}
		return out
	case []byte:
		return slices.Clone(v)
	}
	return v
}

// promotion converts a writer primitive to a wider reader one.
func promotion(r, w *Type) Resolver {
	return func(v any) (any, error) {
		var f float64
		switch w.kind {
		case kindInt:
			n := rawInt(v)
			switch r.kind {
			case kindLong:
				return logicalFromLong(r, int64(n)), nil
			case kindFloat:
				return float32(n), nil
			}
			f = float64(n)
		case kindLong:
			n := rawLong(w, v)
			if r.kind == kindFloat {
				return float32(n), nil
			}
			f = float64(n)
		case kindFloat:
			x, _ := v.(float32)
			f = float64(x)
		case kindString:
			s, _ := v.(string)
			return []byte(s), nil
		case kindBytes:
			bs, _ := v.([]byte)
			return string(bs), nil
		}
		return f, nil
	}
}

// rawInt returns the int behind goavro's native value of an int type.
func rawInt(v any) int32 {
	switch v := v.(type) {
	case int32:
		return v
	case time.Time: // date
		return int32(v.Unix() / 86400)
	case time.Duration: // time-millis
		return int32(v / time.Millisecond)
	}
	return 0
}

// rawLong returns the long behind goavro's native value of a long type.
func rawLong(w *Type, v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case time.Time:
		if w.logical == "timestamp-micros" {
			return v.UnixMicro()
		}
		return v.UnixMilli()
	case time.Duration: // time-micros
		return int64(v / time.Microsecond)
	}
	return 0
}
