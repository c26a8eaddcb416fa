package backoff

import (
	"math/rand/v2"
	"time"
)

// Jitter says how a [Policy] varies the exponential delay d of a retry.
type Jitter uint8

const (
	// Half waits a random duration in [d/2, d]: retries spread out, and
	// half of the delay is kept so they never bunch up at zero. The
	// default.
	Half Jitter = iota
	// Full waits a random duration in (0, d]: the widest spread, for one
	// client among many retrying against one server.
	Full
	// None waits exactly d: a schedule a package documents to its users
	// ("doubles on each failure up to ...").
	None
)

// Policy is an exponential backoff: the n-th retry (n from 1) waits about
// d = min(Initial*2^(n-1), Max), varied by Jitter. With Max zero d stays
// Initial; with Initial zero there is no wait.
type Policy struct {
	Initial time.Duration
	Max     time.Duration
	Jitter  Jitter
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
	switch p.Jitter {
	case None:
		return d
	case Full:
		return time.Duration(rand.Int64N(int64(d))) + 1
	default:
		half := d / 2
		return half + time.Duration(rand.Int64N(int64(d-half)+1))
	}
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
