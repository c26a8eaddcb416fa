package offsettrack

import (
	"math/rand"
	"testing"
)

func TestOutOfOrderCompletion(t *testing.T) {
	p := New(10)
	if got := p.Committable(); got != 10 {
		t.Fatalf("initial committable = %d, want 10", got)
	}
	for _, o := range []int64{10, 11, 12, 15} { // 13, 14: gap (compacted)
		p.Add(o)
	}
	p.Done(11)
	p.Done(15)
	if got := p.Committable(); got != 10 {
		t.Fatalf("committable = %d, want 10 (10 unfinished)", got)
	}
	p.Done(10)
	if got := p.Committable(); got != 12 {
		t.Fatalf("committable = %d, want 12", got)
	}
	if p.Done(11) {
		t.Fatal("Done twice reported true")
	}
	p.Done(12)
	if got := p.Committable(); got != 16 {
		t.Fatalf("committable = %d, want 16", got)
	}
	if p.InFlight() != 0 {
		t.Fatalf("in flight = %d", p.InFlight())
	}
}

func TestRandomOrderMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	p := New(0)
	var added []int64
	doneSet := map[int64]bool{}
	next := int64(0)
	for step := 0; step < 20000; step++ {
		if rng.Intn(2) == 0 || len(added) == len(doneSet) {
			next += int64(1 + rng.Intn(2))
			p.Add(next)
			added = append(added, next)
		} else {
			for {
				o := added[rng.Intn(len(added))]
				if !doneSet[o] {
					doneSet[o] = true
					p.Done(o)
					break
				}
			}
		}
		want := next + 1
		for _, o := range added {
			if !doneSet[o] {
				want = o
				break
			}
		}
		if len(added) == 0 {
			want = 0
		}
		if got := p.Committable(); got != want {
			t.Fatalf("step %d: committable %d, want %d", step, got, want)
		}
	}
}
