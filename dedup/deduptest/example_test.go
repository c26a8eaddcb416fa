package deduptest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/deduptest"
)

// The suite run on the memory store. A durable store passes
// deduptest.Durable() and returns, for the same namespace, a second
// instance over the same data.
func TestMemoryStoreConforms(t *testing.T) {
	deduptest.Run(t, func(t *testing.T, _ string) dedup.Store {
		st, err := dedup.NewMemory(dedup.WithMaxEntries(10_000))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// flaky is a memory store behind a server that can be down; while it is,
// every call fails with downErr.
type flaky struct {
	*dedup.Memory
	down    *atomic.Bool
	downErr error
}

func newFlaky(downErr error) (flaky, func(), func()) {
	m, _ := dedup.NewMemory()
	f := flaky{Memory: m, down: &atomic.Bool{}, downErr: downErr}
	return f, func() { f.down.Store(true) }, func() { f.down.Store(false) }
}

func (f flaky) Claim(ctx context.Context, key string, lease time.Duration) (dedup.Claim, error) {
	if f.down.Load() {
		return dedup.Claim{}, f.downErr
	}
	return f.Memory.Claim(ctx, key, lease)
}

func (f flaky) Confirm(ctx context.Context, key string, tok dedup.Token, ttl time.Duration) error {
	if f.down.Load() {
		return f.downErr
	}
	return f.Memory.Confirm(ctx, key, tok, ttl)
}

func (f flaky) Release(ctx context.Context, key string, tok dedup.Token) error {
	if f.down.Load() {
		return f.downErr
	}
	return f.Memory.Release(ctx, key, tok)
}

// A store that says it is unavailable passes the outage test.
func TestOutageOfAStoreThatSaysSo(t *testing.T) {
	deduptest.Run(t, func(t *testing.T, _ string) dedup.Store {
		st, _ := dedup.NewMemory()
		return st
	}, deduptest.WithOutage(func(*testing.T, string) (dedup.Store, func(), func()) {
		return newFlaky(dedup.Unavailable("flaky", "call", errors.New("server gone")))
	}))
}

// forgetful never records a confirmation and lets any token release.
type forgetful struct{ *dedup.Memory }

func (f forgetful) Confirm(ctx context.Context, key string, tok dedup.Token, _ time.Duration) error {
	return f.Memory.Release(ctx, key, tok)
}

// careless ignores owner tokens.
type careless struct{ *dedup.Memory }

func (c careless) Confirm(ctx context.Context, key string, _ dedup.Token, ttl time.Duration) error {
	return c.Memory.Confirm(ctx, key, "", ttl) // "" never owns anything: fresh keys only
}

const brokenEnv = "DEDUPTEST_BROKEN_STORE"

// TestBrokenStoreHelper runs the suite on a broken store when re-executed by
// TestSuiteCatchesBrokenStores; on its own it does nothing.
func TestBrokenStoreHelper(t *testing.T) {
	which := os.Getenv(brokenEnv)
	if which == "" {
		t.Skip("helper for TestSuiteCatchesBrokenStores")
	}
	// vague fails with an error that does not say the server is down.
	vague := deduptest.WithOutage(func(*testing.T, string) (dedup.Store, func(), func()) {
		return newFlaky(errors.New("something went wrong"))
	})
	deduptest.Run(t, func(t *testing.T, _ string) dedup.Store {
		m, _ := dedup.NewMemory()
		switch which {
		case "forgetful":
			return forgetful{m}
		case "careless":
			return careless{m}
		}
		return m
	}, vague)
}

// The suite must fail stores that break the contract, or it asserts
// nothing.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	for store, mustFail := range map[string][]string{
		"forgetful": {"ConfirmMakesDuplicate", "ConcurrentClaims", "TTLExpiry"},
		"careless":  {"ConfirmMakesDuplicate", "OwnerTokenProtectsNewerClaim"},
		"vague":     {"OutagePauses"},
	} {
		t.Run(store, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStoreHelper$", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+store)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("suite passed a %s store:\n%s", store, out)
			}
			for _, name := range mustFail {
				if !strings.Contains(string(out), "--- FAIL: TestBrokenStoreHelper/"+name) {
					t.Errorf("suite did not fail %s on a %s store:\n%s", name, store, out)
				}
			}
		})
	}
}

// Running the suite on your own store: a function that returns a store
// over a namespace, and Durable() when the data outlives the instance.
func Example() {
	newStore := func(t *testing.T, namespace string) dedup.Store {
		// e.g. mystore.New(client, mystore.WithPrefix(namespace+":"))
		st, _ := dedup.NewMemory()
		return st
	}
	// In TestMyStore(t *testing.T):
	//	deduptest.Run(t, newStore, deduptest.Durable())
	_ = deduptest.NewStore(newStore)
}
