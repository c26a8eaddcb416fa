package backoff

import (
	"testing"
	"time"
)

func TestDelayGrowsWithinBounds(t *testing.T) {
	p := Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	for n, full := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 4: 80 * time.Millisecond, 5: 100 * time.Millisecond, 50: 100 * time.Millisecond} {
		for i := 0; i < 100; i++ {
			d := p.Delay(n)
			if d < full/2 || d > full {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", n, d, full/2, full)
			}
		}
	}
	if (Policy{}).Delay(3) != 0 {
		t.Fatal("zero policy must not wait")
	}
}

func TestPauseGrowsFromBaseToMax(t *testing.T) {
	base, max := 100*time.Millisecond, time.Second
	if got := Pause(base, max, 1); got != base {
		t.Fatalf("first pause %v, want %v", got, base)
	}
	for n := 2; n <= 10; n++ {
		for i := 0; i < 100; i++ {
			got := Pause(base, max, n)
			d := min(base<<(n-1), max)
			if got < base || got < d/2 || got > d {
				t.Fatalf("pause %d: %v, want within [max(%v, %v), %v]", n, got, base, d/2, d)
			}
		}
	}
	if got := Pause(base, base/2, 5); got != base {
		t.Fatalf("a max below base keeps the pause fixed: got %v", got)
	}
}
