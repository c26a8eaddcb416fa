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
