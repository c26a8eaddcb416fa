// Package faultmatrix prints the fault matrix: each package's
// TestFaultMatrix proves how one component behaves under one fault (a
// never-answering broker, Redis down, a missing topic...) and reports that
// cell here, as a table row printed when the test ends (seen with -v) and
// appended to the file named by $BULWARK_FAULT_MATRIX, from which CI
// prints the matrix after its test run.
package faultmatrix

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

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
		row := fmt.Sprintf("| %s | %s | %s | %s | %s | %s |\n",
			clean(c.Fault), clean(c.Component), clean(c.Bound), clean(c.Outcome), dash(clean(c.Records)), result)
		fmt.Print(row)
		if path := os.Getenv(FileEnv); path != "" {
			appendRow(t, path, row)
		}
	})
}

// FileEnv names the file rows are also appended to, so that CI collects
// the matrix from its one test run: test binaries of several packages run
// at once, and each row is one append of a short line, which the
// operating system does not interleave.
const FileEnv = "BULWARK_FAULT_MATRIX"

func appendRow(t testing.TB, path, row string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Errorf("fault matrix: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(row); err != nil {
		t.Errorf("fault matrix: %v", err)
	}
}

func clean(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "|", "/") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
