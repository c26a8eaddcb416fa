// Package backoff computes exponential retry delays with full jitter.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff: the n-th retry (n from 1) waits a random
// duration in [d/2, d] where d = min(Initial*2^(n-1), Max). Half of the delay
// is kept fixed so retries never bunch up at zero.
type Policy struct {
	Initial time.Duration
	Max     time.Duration
}

// Delay returns the wait before retry n (1-based).
func (p Policy) Delay(n int) time.Duration {
	if p.Initial <= 0 {
		return 0
	}
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

// Pause is the delay of the n-th consecutive pause (from 1) of a record
// whose pause-class error carries no delay of its own: base the first
// time, then growing with jitter as [Policy] grows, never below base and
// at most ceiling, so a dependency that stays down is asked less and less
// often. A ceiling at or below base keeps the pause fixed.
func Pause(base, ceiling time.Duration, n int) time.Duration {
	if n <= 1 || ceiling <= base {
		return base
	}
	return max(base, Policy{Initial: base, Max: ceiling}.Delay(n))
}
