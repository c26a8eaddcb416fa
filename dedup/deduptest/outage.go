package deduptest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/dedup"
)

// NewOutageStore returns a store over namespace whose server the test can
// take away (down: connections closed, new ones refused, e.g. by
// servicetest's proxy) and bring back (up).
type NewOutageStore func(t *testing.T, namespace string) (st dedup.Store, down, up func())

// WithOutage enables the OutagePauses test: while the server is down,
// Claim, Confirm and Release must fail, within a few seconds, with errors
// [dedup.IsUnavailable] reports (so the middleware pauses the partition
// instead of dead-lettering the record), and once it is up again the
// store must carry on with the keys it had.
func WithOutage(newStore NewOutageStore) Option { return func(s *suite) { s.outage = newStore } }

// outageBound is how long one call may take while the server is down, and
// how long the store may take to work again once it is up.
const outageBound = 10 * time.Second

func (s *suite) outagePauses(t *testing.T) {
	st, down, up := s.outage(t, namespace(t))
	held := claim(t, st, "held", long, dedup.Acquired)
	down()
	upped := false
	defer func() {
		if !upped {
			up()
		}
	}()
	unavailable := func(what string, call func(ctx context.Context) error) {
		t.Helper()
		c, cancel := context.WithTimeout(context.Background(), 2*outageBound)
		defer cancel()
		start := time.Now()
		err := call(c)
		if took := time.Since(start); took > outageBound {
			t.Errorf("%s took %v while the server was down, want at most %v", what, took, outageBound)
		}
		if !dedup.IsUnavailable(err) {
			t.Errorf("%s while the server was down: %v, want an error dedup.IsUnavailable reports", what, err)
		}
	}
	unavailable("Claim", func(c context.Context) error { _, err := st.Claim(c, "fresh", long); return err })
	unavailable("Confirm", func(c context.Context) error { return st.Confirm(c, "held", held.Token, long) })
	unavailable("Release", func(c context.Context) error { return st.Release(c, "held", held.Token) })
	up()
	upped = true

	// The first calls after the outage may still meet connections the
	// client has not noticed are dead: those must be unavailable errors
	// too, and the store must work within the bound.
	deadline := time.Now().Add(outageBound)
	for {
		err := st.Confirm(ctx(t), "held", held.Token, long)
		if err == nil {
			break
		}
		if !dedup.IsUnavailable(err) || time.Now().After(deadline) {
			t.Fatalf("Confirm after the server came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	claim(t, st, "held", long, dedup.Duplicate)
	claim(t, st, "fresh", long, dedup.Acquired)
}
