package resilience

import "time"

// failureWindow counts a closed breaker's calls and failures over the last
// window ([WithFailureRate]) on the breaker's clock, in tenths that slide:
// failsafe-go's time-based window (v0.9.8, internal/util.BucketedWindow)
// reads a wall clock it gives no way to replace, so the breaker keeps this
// one and opens failsafe-go's breaker itself. Not safe for concurrent use:
// Breaker.mu guards it.
type failureWindow struct {
	rate     float64
	minCalls int
	start    time.Time
	tenth    time.Duration
	buckets  [10]struct{ calls, failures int }
	head     int64 // the number of the tenth the newest bucket counts
	calls    int
	failures int
}

func newFailureWindow(rate float64, minCalls int, window time.Duration, now time.Time) *failureWindow {
	return &failureWindow{rate: rate, minCalls: minCalls, start: now, tenth: max(window/10, 1)}
}

// record counts a call at now and reports whether the window's failure
// rate has reached the threshold over at least the minimum calls.
func (w *failureWindow) record(failed bool, now time.Time) bool {
	// A clock set back counts into the newest bucket.
	if head := int64(max(now.Sub(w.start), 0) / w.tenth); head > w.head {
		for i := range min(head-w.head, int64(len(w.buckets))) {
			b := &w.buckets[(w.head+i+1)%int64(len(w.buckets))]
			w.calls -= b.calls
			w.failures -= b.failures
			b.calls, b.failures = 0, 0
		}
		w.head = head
	}
	b := &w.buckets[w.head%int64(len(w.buckets))]
	b.calls++
	w.calls++
	if failed {
		b.failures++
		w.failures++
	}
	return w.calls >= w.minCalls && float64(w.failures) >= w.rate*float64(w.calls)
}

// reset empties the window, as failsafe-go does when its breaker closes.
func (w *failureWindow) reset(now time.Time) {
	*w = failureWindow{rate: w.rate, minCalls: w.minCalls, start: now, tenth: w.tenth}
}
