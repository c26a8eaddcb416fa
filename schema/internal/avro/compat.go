package avro

import (
	"fmt"
	"slices"
)

// Why goavro does not do this: goavro has no notion of a second schema
// (see Resolver), so neither the registry's levels nor the reasons exist
// there. The checker walks the same trees as the Resolver and shares its
// matching rules (sameName, promotable, findWriterField, matchBranch).

// Reasons returns why data written with writer cannot be read with
// reader, one readable reason per problem, nil when it can. readerIsNew
// picks the wording: in a backward check the reader is the new schema, in
// a forward check the writer is. The levels (which pairs to check) are
// the caller's.
func Reasons(reader, writer *Type, readerIsNew bool) []string {
	c := &compatChecker{readerIsNew: readerIsNew}
	c.check(reader, writer, "")
	return c.reasons
}

// canRead reports whether data written with writer can be read with
// reader. Pairs already being checked further up (recursive types) count
// as readable.
func canRead(reader, writer *Type, inProgress map[typePair]bool) bool {
	if inProgress == nil {
		inProgress = map[typePair]bool{}
	}
	c := &compatChecker{inProgress: inProgress}
	c.check(reader, writer, "")
	return len(c.reasons) == 0
}

type typePair struct{ reader, writer *Type }

// compatChecker collects the reasons why data written with one schema
// cannot be read with another. readerIsNew picks the wording: in a
// backward check the reader is the new schema, in a forward check the
// writer is.
type compatChecker struct {
	readerIsNew bool
	inProgress  map[typePair]bool
	reasons     []string
}

func (c *compatChecker) fail(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	c.reasons = append(c.reasons, msg)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// sameName reports whether a reader named type matches a writer one: same
// unqualified name, or the writer's full name among the reader's aliases.
func sameName(r, w *Type) bool {
	return r.shortName() == w.shortName() || r.name == w.name || slices.Contains(r.aliases, w.name)
}

// promotable reports whether a writer primitive can be read as a reader one.
func promotable(r, w typeKind) bool {
	switch w {
	case kindInt:
		return r == kindLong || r == kindFloat || r == kindDouble
	case kindLong:
		return r == kindFloat || r == kindDouble
	case kindFloat:
		return r == kindDouble
	case kindString:
		return r == kindBytes
	case kindBytes:
		return r == kindString
	}
	return false
}

func (c *compatChecker) check(r, w *Type, path string) {
	pair := typePair{r, w}
	if c.inProgress[pair] {
		return // recursive type: compatible unless shown otherwise elsewhere
	}
	if c.inProgress == nil {
		c.inProgress = map[typePair]bool{}
	}
	c.inProgress[pair] = true
	defer delete(c.inProgress, pair)

	if w.kind == kindUnion {
		for _, wb := range w.branches {
			if r.kind == kindUnion {
				if _, ok := matchBranch(r, wb, c.inProgress); !ok {
					c.fail(path, "%s", c.unionBranchReason(wb, r))
				}
				continue
			}
			c.check(r, wb, path)
		}
		return
	}
	if r.kind == kindUnion {
		if _, ok := matchBranch(r, w, c.inProgress); ok {
			return
		}
		// Explain through the branch of the same kind, if there is one.
		for _, rb := range r.branches {
			if rb.kind == w.kind && (!isNamed(w) || sameName(rb, w)) {
				c.check(rb, w, path)
				return
			}
		}
		c.fail(path, "%s", c.unionBranchReason(w, r))
		return
	}
	if r.kind != w.kind {
		if !promotable(r.kind, w.kind) {
			c.fail(path, "%s", c.typeChangeReason(w, r))
		}
		return
	}
	switch r.kind {
	case kindRecord:
		if !sameName(r, w) {
			c.fail(path, "record name changed from %s to %s", c.oldOf(w, r).name, c.newOf(w, r).name)
			return
		}
		for _, rf := range r.fields {
			wf := findWriterField(w, rf)
			fpath := join(path, rf.name)
			if wf == nil {
				if !rf.hasDefault {
					if c.readerIsNew {
						c.fail(path, "field %s added without a default", rf.name)
					} else {
						c.fail(path, "field %s removed without a default", rf.name)
					}
				}
				continue
			}
			c.check(rf.typ, wf.typ, fpath)
		}
	case kindEnum:
		if !sameName(r, w) {
			c.fail(path, "enum name changed from %s to %s", c.oldOf(w, r).name, c.newOf(w, r).name)
			return
		}
		if r.hasEnumDefault {
			return
		}
		for _, s := range w.symbols {
			if slices.Contains(r.symbols, s) {
				continue
			}
			if c.readerIsNew {
				c.fail(path, "symbol %s removed from enum %s, which has no default symbol", s, r.name)
			} else {
				c.fail(path, "symbol %s added to enum %s, unknown to the earlier schema, which has no default symbol", s, r.name)
			}
		}
	case kindFixed:
		if !sameName(r, w) {
			c.fail(path, "fixed name changed from %s to %s", c.oldOf(w, r).name, c.newOf(w, r).name)
			return
		}
		if r.size != w.size {
			c.fail(path, "fixed %s size changed from %d to %d", r.name, c.oldOf(w, r).size, c.newOf(w, r).size)
		}
	case kindArray:
		c.check(r.items, w.items, join(path, "[]"))
	case kindMap:
		c.check(r.values, w.values, join(path, "{}"))
	}
}

func isNamed(t *Type) bool {
	return t.kind == kindRecord || t.kind == kindEnum || t.kind == kindFixed
}

// oldOf and newOf pick the earlier and the new schema out of a (writer,
// reader) pair for the wording of reasons.
func (c *compatChecker) oldOf(w, r *Type) *Type {
	if c.readerIsNew {
		return w
	}
	return r
}

func (c *compatChecker) newOf(w, r *Type) *Type {
	if c.readerIsNew {
		return r
	}
	return w
}

func (c *compatChecker) typeChangeReason(w, r *Type) string {
	return fmt.Sprintf("type changed from %s to %s; %s cannot be read as %s",
		c.oldOf(w, r).describe(), c.newOf(w, r).describe(), w.describe(), r.describe())
}

func (c *compatChecker) unionBranchReason(w, r *Type) string {
	if c.readerIsNew {
		return fmt.Sprintf("%s, written by the earlier schema, cannot be read as any of %s", w.describe(), r.describe())
	}
	return fmt.Sprintf("%s, written by the new schema, cannot be read by the earlier %s", w.describe(), r.describe())
}

// findWriterField finds the writer field a reader field reads: same name,
// or a writer field named by one of the reader field's aliases.
func findWriterField(w *Type, rf *field) *field {
	for _, wf := range w.fields {
		if wf.name == rf.name {
			return wf
		}
	}
	for _, wf := range w.fields {
		if slices.Contains(rf.aliases, wf.name) {
			return wf
		}
	}
	return nil
}

// matchBranch picks the reader union branch that reads w: the first of the
// same type (same name for named types) that can read it, else the first
// that can read it through promotion.
func matchBranch(r *Type, w *Type, inProgress map[typePair]bool) (int, bool) {
	for i, rb := range r.branches {
		if rb.kind == w.kind && (!isNamed(w) || sameName(rb, w)) && canRead(rb, w, inProgress) {
			return i, true
		}
	}
	for i, rb := range r.branches {
		if rb.kind != w.kind && canRead(rb, w, inProgress) {
			return i, true
		}
	}
	return 0, false
}
