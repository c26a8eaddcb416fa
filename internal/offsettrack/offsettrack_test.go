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

// SkipTo moves the committable offset past offsets holding nothing to
// handle, but never past a record still in flight, and never backwards.
func TestSkipTo(t *testing.T) {
	p := New(-2) // nothing committed, start unresolved
	if next, idle := p.Idle(); next != -2 || !idle {
		t.Fatalf("Idle() = %d, %v; want -2, true", next, idle)
	}
	p.SkipTo(5) // a partition whose first records were all aborted
	if got := p.Committable(); got != 5 {
		t.Fatalf("committable after SkipTo(5) = %d, want 5", got)
	}
	p.Add(5)
	p.Add(6)
	if next, idle := p.Idle(); next != 7 || idle {
		t.Fatalf("Idle() = %d, %v; want 7, false", next, idle)
	}
	p.SkipTo(9) // 7: marker, 8: aborted
	if got := p.Committable(); got != 5 {
		t.Fatalf("committable = %d with 5 in flight, want 5", got)
	}
	p.Done(5)
	p.Done(6)
	if got := p.Committable(); got != 9 {
		t.Fatalf("committable = %d, want 9", got)
	}
	p.SkipTo(8) // stale: behind what is known
	if got := p.Committable(); got != 9 {
		t.Fatalf("committable after a stale SkipTo = %d, want 9", got)
	}
	p.Add(9)
	if got := p.Committable(); got != 9 {
		t.Fatalf("committable with 9 in flight = %d, want 9", got)
	}
}
