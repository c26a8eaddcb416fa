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

func TestJitterModesKeepTheirRange(t *testing.T) {
	for n, full := range map[int]time.Duration{1: 10 * time.Millisecond, 3: 40 * time.Millisecond, 9: 100 * time.Millisecond} {
		exact := Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: None}
		if d := exact.Delay(n); d != full {
			t.Fatalf("None: Delay(%d) = %v, want exactly %v", n, d, full)
		}
		wide := Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: Full}
		for i := 0; i < 100; i++ {
			if d := wide.Delay(n); d <= 0 || d > full {
				t.Fatalf("Full: Delay(%d) = %v, want in (0, %v]", n, d, full)
			}
		}
	}
	if d := (Policy{Initial: time.Second, Jitter: None}).Delay(5); d != time.Second {
		t.Fatalf("no Max: Delay(5) = %v, want Initial (no growth)", d)
	}
	if d := (Policy{Initial: time.Second, Max: 100 * time.Millisecond, Jitter: None}).Delay(1); d != 100*time.Millisecond {
		t.Fatalf("Initial above Max: Delay(1) = %v, want Max", d)
	}
}
