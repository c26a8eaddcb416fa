package deduptest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
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
	deduptest.Run(t, func(t *testing.T, _ string) dedup.Store {
		m, _ := dedup.NewMemory()
		if which == "forgetful" {
			return forgetful{m}
		}
		return careless{m}
	})
}

// The suite must fail stores that break the contract, or it asserts
// nothing.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	for store, mustFail := range map[string][]string{
		"forgetful": {"ConfirmMakesDuplicate", "ConcurrentClaims", "TTLExpiry"},
		"careless":  {"ConfirmMakesDuplicate", "OwnerTokenProtectsNewerClaim"},
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
