package faultmatrix_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
)

func TestReportPrintsARowWhenTheTestEnds(t *testing.T) {
	t.Run("cell", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "example", Component: "faultmatrix", Bound: "none", Outcome: "a | row",
		})
	})
}
