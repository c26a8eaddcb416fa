package dedup_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/deduptest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryConformance(t *testing.T) {
	deduptest.Run(t, func(t *testing.T, _ string) dedup.Store {
		st, err := dedup.NewMemory(dedup.WithMaxEntries(10_000))
		require.NoError(t, err)
		return st
	})
}

func claimState(t *testing.T, st dedup.Store, key string) dedup.State {
	c, err := st.Claim(context.Background(), key, time.Hour)
	require.NoError(t, err)
	return c.State
}

func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	st, err := dedup.NewMemory(dedup.WithMaxEntries(4), dedup.WithShards(1))
	require.NoError(t, err)
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		key := fmt.Sprint("k", i)
		c, err := st.Claim(ctx, key, time.Hour)
		require.NoError(t, err)
		require.NoError(t, st.Confirm(ctx, key, c.Token, time.Hour))
	}
	assert.Equal(t, dedup.Duplicate, claimState(t, st, "k1"), "k1 used again: now the most recent")
	assert.Equal(t, dedup.Acquired, claimState(t, st, "k5"), "k5 evicts k2, the least recently used")
	assert.Equal(t, 4, st.Len())
	assert.Equal(t, dedup.Duplicate, claimState(t, st, "k1"))
	assert.Equal(t, dedup.Duplicate, claimState(t, st, "k3"))
	assert.Equal(t, dedup.Acquired, claimState(t, st, "k2"), "k2 was forgotten") // evicts k4
	assert.Equal(t, dedup.Busy, claimState(t, st, "k5"))
	assert.Equal(t, 4, st.Len())
}

func TestMemoryStaysBounded(t *testing.T) {
	st, err := dedup.NewMemory(dedup.WithMaxEntries(1000), dedup.WithShards(16))
	require.NoError(t, err)
	for i := range 20_000 {
		claimState(t, st, fmt.Sprint("key-", i))
	}
	assert.LessOrEqual(t, st.Len(), 1000)
	assert.Greater(t, st.Len(), 900, "shards share the bound evenly enough")
}

func TestMemoryConfig(t *testing.T) {
	for name, opts := range map[string][]dedup.MemoryOption{
		"zero entries":  {dedup.WithMaxEntries(0)},
		"zero shards":   {dedup.WithShards(0)},
		"huge shards":   {dedup.WithShards(1 << 20)},
		"negative both": {dedup.WithMaxEntries(-1), dedup.WithShards(-1)},
	} {
		_, err := dedup.NewMemory(opts...)
		assert.ErrorIs(t, err, dedup.ErrInvalidConfig, name)
	}
	// Fewer entries than shards still holds exactly the bound.
	st, err := dedup.NewMemory(dedup.WithMaxEntries(3), dedup.WithShards(64))
	require.NoError(t, err)
	for i := range 100 {
		claimState(t, st, fmt.Sprint(i))
	}
	assert.LessOrEqual(t, st.Len(), 3)
}

// Tokens are unique across shards and claims: a stale holder must never
// present a token equal to the current one.
func TestMemoryTokensAreUnique(t *testing.T) {
	st, err := dedup.NewMemory(dedup.WithMaxEntries(1_000), dedup.WithShards(8))
	require.NoError(t, err)
	ctx := context.Background()
	seen := map[dedup.Token]string{}
	for i := range 20_000 { // far more claims than entries: shards evict and reuse entries
		key := fmt.Sprintf("k%d", i%3_000)
		c, err := st.Claim(ctx, key, time.Hour)
		require.NoError(t, err)
		require.Equal(t, dedup.Acquired, c.State, "every earlier claim was released")
		require.NotEmpty(t, c.Token)
		if prev, dup := seen[c.Token]; dup {
			t.Fatalf("token %q given for %s and again for %s", c.Token, prev, key)
		}
		seen[c.Token] = key
		require.NoError(t, st.Release(ctx, key, c.Token))
	}
	assert.Len(t, seen, 20_000)
}
