package produce

import (
	"math"
	"testing"
)

func TestAddSeqWraps(t *testing.T) {
	for _, c := range []struct {
		seq  int32
		n    int
		want int32
	}{
		{0, 5, 5},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 1, 3, 1},
		{1, -3, math.MaxInt32 - 1},
		{7, -7, 0},
	} {
		if got := addSeq(c.seq, c.n); got != c.want {
			t.Errorf("addSeq(%d, %d) = %d, want %d", c.seq, c.n, got, c.want)
		}
	}
}
