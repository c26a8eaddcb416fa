// Package faultmatrix prints the fault matrix: each package's
// TestFaultMatrix proves how one component behaves under one fault (a
// never-answering broker, Redis down, a missing topic...) and reports that
// cell here. CI runs those tests verbosely and collects the lines starting
// with "| " into the table the README and the issue notes quote.
package faultmatrix

import (
	"fmt"
	"strings"
	"testing"
)

// Header is the table's heading, printed by CI above the collected rows.
const Header = "| fault | component | bound | outcome | records | result |\n| --- | --- | --- | --- | --- | --- |"

// Cell is one proven combination of a fault and a component.
type Cell struct {
	// Fault names the fault, e.g. "Redis down 3 s".
	Fault string
	// Component is the package under test: producer, consumer, eos,
	// dedup, schema...
	Component string
	// Bound is the time the test allows, e.g. "New returns within 5 s".
	Bound string
	// Outcome is what the test asserts happened, e.g. "*conn.ConnectError
	// (ErrUnreachable)" or "partition paused, resumed".
	Outcome string
	// Records is what the test asserts about the records, e.g. "0 lost,
	// 0 dead-lettered, side effects once"; "-" where no record is involved.
	Records string
}

// Report prints c as a table row when t ends, marked "ok" if t passed and
// "FAIL" otherwise, so the printed matrix never shows a failed cell green.
func Report(t testing.TB, c Cell) {
	t.Helper()
	t.Cleanup(func() {
		result := "ok"
		if t.Failed() {
			result = "FAIL"
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n",
			clean(c.Fault), clean(c.Component), clean(c.Bound), clean(c.Outcome), dash(clean(c.Records)), result)
	})
}

func clean(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "|", "/") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
