package faultmatrix_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
)

func TestReportAppendsARowWhenTheTestEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "matrix")
	t.Setenv(faultmatrix.FileEnv, path)
	t.Run("cell", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "example", Component: "faultmatrix", Bound: "none", Outcome: "a | row",
		})
		if _, err := os.Stat(path); err == nil {
			t.Error("the row is written only when the test ends")
		}
	})
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "| example | faultmatrix | none | a / row | - | ok |\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
