package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bulwarkgo/bulwark/schema/internal/avro"
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

// Why goavro does not do this: goavro has no notion of a second schema,
// so neither the registry's levels nor the reasons exist there. The
// levels are here; the reasons for one (reader, writer) pair are
// avro.Reasons, on the same trees and matching rules as the resolver.

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
	newT, err := avro.Parse(candidate)
	if err != nil {
		return nil, &InvalidSchemaError{Reason: err.Error()}
	}
	if level == CompatNone || len(previous) == 0 {
		return nil, nil
	}
	olds := make([]*avro.Type, len(previous))
	for i, p := range previous {
		if olds[i], err = avro.Parse(p); err != nil {
			return nil, &InvalidSchemaError{Reason: fmt.Sprintf("earlier schema %d: %v", i+1, err)}
		}
	}
	return checkParsed(level, newT, olds), nil
}

func checkParsed(level Compatibility, newT *avro.Type, olds []*avro.Type) []string {
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
			for _, r := range avro.Reasons(newT, olds[i], true) {
				reasons = appendUnique(reasons, prefix+r)
			}
		}
		if level.forward() {
			for _, r := range avro.Reasons(olds[i], newT, false) {
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

// formatReasons joins reasons for an error message.
func formatReasons(reasons []string) string {
	return strings.Join(reasons, "; ")
}
