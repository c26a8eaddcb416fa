package schema

import (
	"fmt"
	"slices"
	"strings"
)

// Compatibility is a schema registry compatibility level: which earlier
// versions of a subject a new schema must be compatible with, and how.
type Compatibility string

// Compatibility levels, spelled as the registry spells them.
const (
	// CompatNone checks nothing.
	CompatNone Compatibility = "NONE"
	// CompatBackward: the new schema can read data written with the latest
	// earlier schema (consumers upgrade first).
	CompatBackward Compatibility = "BACKWARD"
	// CompatBackwardTransitive: the new schema can read data written with
	// every earlier schema.
	CompatBackwardTransitive Compatibility = "BACKWARD_TRANSITIVE"
	// CompatForward: the latest earlier schema can read data written with
	// the new one (producers upgrade first).
	CompatForward Compatibility = "FORWARD"
	// CompatForwardTransitive: every earlier schema can read data written
	// with the new one.
	CompatForwardTransitive Compatibility = "FORWARD_TRANSITIVE"
	// CompatFull is CompatBackward and CompatForward.
	CompatFull Compatibility = "FULL"
	// CompatFullTransitive is CompatBackwardTransitive and
	// CompatForwardTransitive.
	CompatFullTransitive Compatibility = "FULL_TRANSITIVE"
)

// Valid reports whether c is one of the levels above.
func (c Compatibility) Valid() bool {
	switch c {
	case CompatNone, CompatBackward, CompatBackwardTransitive, CompatForward,
		CompatForwardTransitive, CompatFull, CompatFullTransitive:
		return true
	}
	return false
}

func (c Compatibility) backward() bool {
	return c == CompatBackward || c == CompatBackwardTransitive || c == CompatFull || c == CompatFullTransitive
}

func (c Compatibility) forward() bool {
	return c == CompatForward || c == CompatForwardTransitive || c == CompatFull || c == CompatFullTransitive
}

func (c Compatibility) transitive() bool {
	return c == CompatBackwardTransitive || c == CompatForwardTransitive || c == CompatFullTransitive
}

// Why goavro does not do this: goavro has no notion of a second schema
// (see resolver), so neither the registry's levels nor the reasons exist
// there. The checker walks the same trees as the resolver and shares its
// matching rules (sameName, promotable, findWriterField, matchBranch).

// CheckCompatibility checks the Avro schema candidate against the earlier
// schemas of a subject, oldest first, at the given level, following the
// Avro specification's schema resolution rules. It returns nil when the
// candidate is compatible, and otherwise one readable reason per problem,
// such as "field customerId removed without a default". An invalid level
// or a schema that does not parse is an error wrapping
// [ErrInvalidCompatibility] or [ErrInvalidSchema].
func CheckCompatibility(level Compatibility, candidate string, previous ...string) ([]string, error) {
	if !level.Valid() {
		return nil, fmt.Errorf("%w: %q", ErrInvalidCompatibility, level)
	}
	newT, err := parseTree(candidate)
	if err != nil {
		return nil, &InvalidSchemaError{Reason: err.Error()}
	}
	if level == CompatNone || len(previous) == 0 {
		return nil, nil
	}
	olds := make([]*avroType, len(previous))
	for i, p := range previous {
		if olds[i], err = parseTree(p); err != nil {
			return nil, &InvalidSchemaError{Reason: fmt.Sprintf("earlier schema %d: %v", i+1, err)}
		}
	}
	return checkParsed(level, newT, olds), nil
}

func checkParsed(level Compatibility, newT *avroType, olds []*avroType) []string {
	first := len(olds) - 1
	if level.transitive() {
		first = 0
	}
	var reasons []string
	for i := len(olds) - 1; i >= first; i-- {
		prefix := ""
		if level.transitive() && len(olds) > 1 {
			prefix = fmt.Sprintf("against earlier schema %d of %d: ", i+1, len(olds))
		}
		if level.backward() {
			c := &compatChecker{readerIsNew: true}
			c.check(newT, olds[i], "")
			for _, r := range c.reasons {
				reasons = appendUnique(reasons, prefix+r)
			}
		}
		if level.forward() {
			c := &compatChecker{readerIsNew: false}
			c.check(olds[i], newT, "")
			for _, r := range c.reasons {
				reasons = appendUnique(reasons, prefix+r)
			}
		}
	}
	return reasons
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// canRead reports whether data written with writer can be read with
// reader. Pairs already being checked further up (recursive types) count
// as readable.
func canRead(reader, writer *avroType, inProgress map[typePair]bool) bool {
	if inProgress == nil {
		inProgress = map[typePair]bool{}
	}
	c := &compatChecker{inProgress: inProgress}
	c.check(reader, writer, "")
	return len(c.reasons) == 0
}

type typePair struct{ reader, writer *avroType }

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
func sameName(r, w *avroType) bool {
	return r.shortName() == w.shortName() || r.name == w.name || slices.Contains(r.aliases, w.name)
}

// promotable reports whether a writer primitive can be read as a reader one.
func promotable(r, w avroKind) bool {
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

func (c *compatChecker) check(r, w *avroType, path string) {
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

func isNamed(t *avroType) bool {
	return t.kind == kindRecord || t.kind == kindEnum || t.kind == kindFixed
}

// oldOf and newOf pick the earlier and the new schema out of a (writer,
// reader) pair for the wording of reasons.
func (c *compatChecker) oldOf(w, r *avroType) *avroType {
	if c.readerIsNew {
		return w
	}
	return r
}

func (c *compatChecker) newOf(w, r *avroType) *avroType {
	if c.readerIsNew {
		return r
	}
	return w
}

func (c *compatChecker) typeChangeReason(w, r *avroType) string {
	return fmt.Sprintf("type changed from %s to %s; %s cannot be read as %s",
		c.oldOf(w, r).describe(), c.newOf(w, r).describe(), w.describe(), r.describe())
}

func (c *compatChecker) unionBranchReason(w, r *avroType) string {
	if c.readerIsNew {
		return fmt.Sprintf("%s, written by the earlier schema, cannot be read as any of %s", w.describe(), r.describe())
	}
	return fmt.Sprintf("%s, written by the new schema, cannot be read by the earlier %s", w.describe(), r.describe())
}

// findWriterField finds the writer field a reader field reads: same name,
// or a writer field named by one of the reader field's aliases.
func findWriterField(w *avroType, rf *avroField) *avroField {
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
func matchBranch(r *avroType, w *avroType, inProgress map[typePair]bool) (int, bool) {
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

// formatReasons joins reasons for an error message.
func formatReasons(reasons []string) string {
	return strings.Join(reasons, "; ")
}
