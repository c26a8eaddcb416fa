package deduptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/dedup"
)

// NewStore returns a store over the data of namespace, a name made of
// lowercase letters, digits and underscores (at most 40 bytes) that the
// suite makes unique per test. For a durable store, two calls with the same
// namespace must return two independent instances (own connections, own
// state) over the same data, as two consumer processes would have. The
// function should clean the namespace up with t.Cleanup.
type NewStore func(t *testing.T, namespace string) dedup.Store

type suite struct {
	durable bool
	tick    time.Duration
	outage  NewOutageStore
}

// Option configures [Run].
type Option func(*suite)

// Durable declares that the store keeps its data across instances (a new
// process), which enables the persistence tests.
func Durable() Option { return func(s *suite) { s.durable = true } }

// WithTick sets the suite's time unit (default 100ms): leases and
// retentions last a few ticks and the expiry tests sleep a few ticks. Raise
// it for a store with coarse expiry.
func WithTick(d time.Duration) Option { return func(s *suite) { s.tick = d } }

// Run runs the conformance suite as parallel subtests of t. Every
// [dedup.Store] must pass it.
func Run(t *testing.T, newStore NewStore, opts ...Option) {
	s := &suite{tick: 100 * time.Millisecond}
	for _, o := range opts {
		o(s)
	}
	tests := []struct {
		name string
		run  func(t *testing.T, st dedup.Store)
	}{
		{"ClaimAcquiresFreshKey", s.claimAcquiresFreshKey},
		{"ClaimWhileLeasedIsBusy", s.claimWhileLeasedIsBusy},
		{"ConfirmMakesDuplicate", s.confirmMakesDuplicate},
		{"ReleaseFreesKey", s.releaseFreesKey},
		{"ReleaseKeepsConfirmation", s.releaseKeepsConfirmation},
		{"ReleaseAndConfirmOfAbsentKey", s.releaseAndConfirmOfAbsentKey},
		{"LeaseExpiry", s.leaseExpiry},
		{"ExpiredLeaseCanStillBeConfirmedByItsHolder", s.expiredLeaseConfirm},
		{"TTLExpiry", s.ttlExpiry},
		{"ConfirmIsIdempotentAndRenews", s.confirmRenews},
		{"OwnerTokenProtectsNewerClaim", s.ownerToken},
		{"ConcurrentClaims", s.concurrentClaims},
		{"KeysAreIndependent", s.keysIndependent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t, namespace(t)))
		})
	}
	t.Run("PersistenceAcrossInstances", func(t *testing.T) {
		if !s.durable {
			t.Skip("store not declared durable (deduptest.Durable)")
		}
		t.Parallel()
		s.persistence(t, newStore)
	})
	t.Run("OutagePauses", func(t *testing.T) {
		if s.outage == nil {
			t.Skip("no outage to test (deduptest.WithOutage)")
		}
		t.Parallel()
		s.outagePauses(t)
	})
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

func namespace(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	base := nonName.ReplaceAllString(strings.ToLower(t.Name()[strings.LastIndex(t.Name(), "/")+1:]), "")
	if len(base) > 28 {
		base = base[:28]
	}
	return "dt_" + base + "_" + hex.EncodeToString(b[:])
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// long is a lease or retention that does not expire during a test.
const long = time.Minute

func claim(t *testing.T, st dedup.Store, key string, lease time.Duration, want dedup.State) dedup.Claim {
	t.Helper()
	c, err := st.Claim(ctx(t), key, lease)
	if err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	if c.State != want {
		t.Fatalf("Claim(%q) = %v, want %v", key, c.State, want)
	}
	if want == dedup.Acquired && c.Token == "" {
		t.Fatalf("Claim(%q) acquired with an empty token", key)
	}
	return c
}

func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func leaseLost(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, dedup.ErrLeaseLost) {
		t.Fatalf("%s: got %v, want dedup.ErrLeaseLost", what, err)
	}
}

func (s *suite) claimAcquiresFreshKey(t *testing.T, st dedup.Store) {
	a := claim(t, st, "k1", long, dedup.Acquired)
	b := claim(t, st, "k2", long, dedup.Acquired)
	if a.Token == b.Token {
		t.Fatalf("two claims got the same token %q", a.Token)
	}
}

func (s *suite) claimWhileLeasedIsBusy(t *testing.T, st dedup.Store) {
	lease := 50 * s.tick
	claim(t, st, "k", lease, dedup.Acquired)
	c := claim(t, st, "k", lease, dedup.Busy)
	if c.Token != "" {
		t.Fatalf("busy claim carries token %q", c.Token)
	}
	if c.Remaining < 0 || c.Remaining > lease {
		t.Fatalf("busy Remaining = %v, want within [0, %v]", c.Remaining, lease)
	}
}

func (s *suite) confirmMakesDuplicate(t *testing.T, st dedup.Store) {
	c := claim(t, st, "k", long, dedup.Acquired)
	noErr(t, st.Confirm(ctx(t), "k", c.Token, long), "Confirm")
	claim(t, st, "k", long, dedup.Duplicate)
	claim(t, st, "k", long, dedup.Duplicate)
}

func (s *suite) releaseFreesKey(t *testing.T, st dedup.Store) {
	c := claim(t, st, "k", long, dedup.Acquired)
	noErr(t, st.Release(ctx(t), "k", c.Token), "Release")
	c2 := claim(t, st, "k", long, dedup.Acquired)
	if c2.Token == c.Token {
		t.Fatalf("claim after release reused token %q", c.Token)
	}
	// Releasing twice is harmless and does not free the newer claim.
	leaseLost(t, st.Release(ctx(t), "k", c.Token), "Release with the released token while a newer claim holds the key")
	claim(t, st, "k", long, dedup.Busy)
}

func (s *suite) releaseKeepsConfirmation(t *testing.T, st dedup.Store) {
	c := claim(t, st, "k", long, dedup.Acquired)
	noErr(t, st.Confirm(ctx(t), "k", c.Token, long), "Confirm")
	noErr(t, st.Release(ctx(t), "k", c.Token), "Release after own Confirm")
	claim(t, st, "k", long, dedup.Duplicate)
}

func (s *suite) releaseAndConfirmOfAbsentKey(t *testing.T, st dedup.Store) {
	noErr(t, st.Release(ctx(t), "never-claimed", "no-such-token"), "Release of an absent key")
	claim(t, st, "never-claimed", long, dedup.Acquired)
	// Confirming an absent key records it: the handler ran, nobody holds it.
	noErr(t, st.Confirm(ctx(t), "absent", "some-token", long), "Confirm of an absent key")
	claim(t, st, "absent", long, dedup.Duplicate)
}

func (s *suite) leaseExpiry(t *testing.T, st dedup.Store) {
	c := claim(t, st, "k", 2*s.tick, dedup.Acquired)
	claim(t, st, "k", long, dedup.Busy)
	time.Sleep(5 * s.tick)
	c2 := claim(t, st, "k", long, dedup.Acquired)
	if c2.Token == c.Token {
		t.Fatalf("claim after lease expiry reused token %q", c.Token)
	}
}

func (s *suite) expiredLeaseConfirm(t *testing.T, st dedup.Store) {
	c := claim(t, st, "k", 2*s.tick, dedup.Acquired)
	time.Sleep(5 * s.tick)
	// Nobody claimed the key since: the late holder may still record it.
	noErr(t, st.Confirm(ctx(t), "k", c.Token, long), "Confirm after own lease expired, key not reclaimed")
	claim(t, st, "k", long, dedup.Duplicate)
}

func (s *suite) ttlExpiry(t *testing.T, st dedup.Store) {
	c := claim(t, st, "k", long, dedup.Acquired)
	noErr(t, st.Confirm(ctx(t), "k", c.Token, 2*s.tick), "Confirm")
	claim(t, st, "k", long, dedup.Duplicate)
	time.Sleep(5 * s.tick)
	claim(t, st, "k", long, dedup.Acquired)
}

func (s *suite) confirmRenews(t *testing.T, st dedup.Store) {
	c := claim(t, st, "k", long, dedup.Acquired)
	noErr(t, st.Confirm(ctx(t), "k", c.Token, 3*s.tick), "first Confirm")
	noErr(t, st.Confirm(ctx(t), "k", c.Token, long), "second Confirm with the same token")
	time.Sleep(6 * s.tick)
	claim(t, st, "k", long, dedup.Duplicate)
}

func (s *suite) ownerToken(t *testing.T, st dedup.Store) {
	old := claim(t, st, "k", 2*s.tick, dedup.Acquired)
	time.Sleep(5 * s.tick)
	newer := claim(t, st, "k", long, dedup.Acquired)
	if newer.Token == old.Token {
		t.Fatalf("newer claim reused token %q", old.Token)
	}

	leaseLost(t, st.Confirm(ctx(t), "k", old.Token, long), "late Confirm by the expired holder")
	claim(t, st, "k", long, dedup.Busy) // not confirmed by the stale holder
	leaseLost(t, st.Release(ctx(t), "k", old.Token), "late Release by the expired holder")
	claim(t, st, "k", long, dedup.Busy) // not freed by the stale holder
	leaseLost(t, st.Confirm(ctx(t), "k", "forged-token", long), "Confirm with a token never issued")

	noErr(t, st.Confirm(ctx(t), "k", newer.Token, long), "Confirm by the current holder")
	claim(t, st, "k", long, dedup.Duplicate)
	leaseLost(t, st.Confirm(ctx(t), "k", old.Token, long), "Confirm by the stale holder after the newer confirmation")
	leaseLost(t, st.Release(ctx(t), "k", old.Token), "Release by the stale holder after the newer confirmation")
	claim(t, st, "k", long, dedup.Duplicate)
}

func (s *suite) concurrentClaims(t *testing.T, st dedup.Store) {
	const keys, racers = 20, 8
	type result struct {
		key string
		c   dedup.Claim
		err error
	}
	results := make(chan result, keys*racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for k := range keys {
		for range racers {
			wg.Go(func() {
				<-start
				key := fmt.Sprintf("race-%d", k)
				c, err := st.Claim(context.Background(), key, long)
				results <- result{key, c, err}
			})
		}
	}
	close(start)
	wg.Wait()
	close(results)
	winners := map[string]dedup.Token{}
	tokens := map[dedup.Token]bool{}
	for r := range results {
		if r.err != nil {
			t.Fatalf("Claim(%q): %v", r.key, r.err)
		}
		switch r.c.State {
		case dedup.Acquired:
			if _, dup := winners[r.key]; dup {
				t.Fatalf("key %q acquired twice", r.key)
			}
			if tokens[r.c.Token] {
				t.Fatalf("token %q issued twice", r.c.Token)
			}
			winners[r.key], tokens[r.c.Token] = r.c.Token, true
		case dedup.Busy:
		default:
			t.Fatalf("Claim(%q) = %v during the race, want acquired or busy", r.key, r.c.State)
		}
	}
	if len(winners) != keys {
		t.Fatalf("%d of %d keys acquired", len(winners), keys)
	}
	// The winners confirm concurrently; then every key is a duplicate.
	for key, tok := range winners {
		wg.Go(func() { noErr(t, st.Confirm(context.Background(), key, tok, long), "Confirm "+key) })
	}
	wg.Wait()
	for key := range winners {
		claim(t, st, key, long, dedup.Duplicate)
	}
}

func (s *suite) keysIndependent(t *testing.T, st dedup.Store) {
	keys := []string{"a", "ab", "a:b", "a b", "ünïcödé-🔑", "A", strings.Repeat("x", 300), "order/42", `quote'"\`, "%_*"}
	toks := map[string]dedup.Token{}
	for _, k := range keys {
		toks[k] = claim(t, st, k, long, dedup.Acquired).Token
	}
	noErr(t, st.Confirm(ctx(t), "a", toks["a"], long), "Confirm a")
	noErr(t, st.Release(ctx(t), "ab", toks["ab"]), "Release ab")
	claim(t, st, "a", long, dedup.Duplicate)
	claim(t, st, "ab", long, dedup.Acquired)
	for _, k := range keys[2:] {
		claim(t, st, k, long, dedup.Busy)
	}
}

func (s *suite) persistence(t *testing.T, newStore NewStore) {
	ns := namespace(t)
	first := newStore(t, ns)
	done := claim(t, first, "done", long, dedup.Acquired)
	noErr(t, first.Confirm(ctx(t), "done", done.Token, long), "Confirm on the first instance")
	leased := claim(t, first, "leased", long, dedup.Acquired)

	second := newStore(t, ns)
	claim(t, second, "done", long, dedup.Duplicate)
	claim(t, second, "leased", long, dedup.Busy)
	// A token is valid on any instance: a consumer restarts, the lease lives on.
	noErr(t, second.Confirm(ctx(t), "leased", leased.Token, long), "Confirm on the second instance with the first's token")
	claim(t, first, "leased", long, dedup.Duplicate)

	// Tokens stay unique across instances.
	seen := map[dedup.Token]bool{}
	for i := range 50 {
		for j, st := range []dedup.Store{first, second} {
			c := claim(t, st, fmt.Sprintf("u-%d-%d", i, j), long, dedup.Acquired)
			if seen[c.Token] {
				t.Fatalf("token %q issued twice across instances", c.Token)
			}
			seen[c.Token] = true
		}
	}
}
