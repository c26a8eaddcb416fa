package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/deduptest"
	"github.com/bulwarkgo/bulwark/dedup/redisstore"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// autoPipelined returns c's autopipeliner, which the store must serve as
// well as a plain client.
func autoPipelined(t testing.TB, c *redis.Client) redis.Cmdable {
	ap, err := c.AutoPipeline()
	require.NoError(t, err)
	return ap
}

// clientKinds are the ways a store reaches one Redis server.
var clientKinds = map[string]func(testing.TB, *redis.Client) redis.Cmdable{
	"client":       func(_ testing.TB, c *redis.Client) redis.Cmdable { return c },
	"autopipeline": autoPipelined,
}

// dropPrefix deletes every key under prefix.
func dropPrefix(t testing.TB, addr, prefix string) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("cleanup of %s*: %v", prefix, err)
	}
}

func TestConformance(t *testing.T) {
	addr := servicetest.RedisAddr(t)
	for name, kind := range clientKinds {
		t.Run(name, func(t *testing.T) {
			deduptest.Run(t, func(t *testing.T, ns string) dedup.Store {
				prefix := "bulwark:test:" + name + ":" + ns + ":"
				t.Cleanup(func() { dropPrefix(t, addr, prefix) })
				st, err := redisstore.New(kind(t, newClient(t, addr)), redisstore.WithPrefix(prefix))
				require.NoError(t, err)
				return st
			}, deduptest.Durable(), deduptest.WithOutage(func(t *testing.T, ns string) (dedup.Store, func(), func()) {
				prefix := "bulwark:test:" + name + ":" + ns + ":"
				t.Cleanup(func() { dropPrefix(t, addr, prefix) })
				proxy := servicetest.NewProxy(t, addr)
				st, err := redisstore.New(kind(t, newClient(t, proxy.Addr())), redisstore.WithPrefix(prefix))
				require.NoError(t, err)
				return st, proxy.Cut, proxy.Restore
			}))
		})
	}
}

func TestStoredLayout(t *testing.T) {
	addr := servicetest.RedisAddr(t)
	prefix := servicetest.UniqueName(t, "bulwark:test") + ":"
	t.Cleanup(func() { dropPrefix(t, addr, prefix) })
	c := newClient(t, addr)
	st, err := redisstore.New(c, redisstore.WithPrefix(prefix))
	require.NoError(t, err)
	ctx := context.Background()

	cl, err := st.Claim(ctx, "k", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "L"+string(cl.Token), c.Get(ctx, prefix+"k").Val())
	assert.InDelta(t, 10*time.Second, c.PTTL(ctx, prefix+"k").Val(), float64(time.Second))

	require.NoError(t, st.Confirm(ctx, "k", cl.Token, time.Hour))
	assert.Equal(t, "D"+string(cl.Token), c.Get(ctx, prefix+"k").Val())
	assert.InDelta(t, time.Hour, c.PTTL(ctx, prefix+"k").Val(), float64(time.Minute), "retention becomes the Redis expiry")
}

// ClaimMany and ConfirmMany run one script for the batch on a single
// server and a pipeline of per-key commands on a ring or cluster; both
// must behave alike.
func TestBatchOperations(t *testing.T) {
	addr := servicetest.RedisAddr(t)
	clients := map[string]func() redis.Cmdable{
		"client":       func() redis.Cmdable { return newClient(t, addr) },
		"autopipeline": func() redis.Cmdable { return autoPipelined(t, newClient(t, addr)) },
		"ring": func() redis.Cmdable {
			r := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"only": addr}})
			t.Cleanup(func() { _ = r.Close() })
			return r
		},
	}
	for name, mk := range clients {
		t.Run(name, func(t *testing.T) { testBatch(t, addr, mk()) })
	}
}

func testBatch(t *testing.T, addr string, client redis.Cmdable) {
	prefix := servicetest.UniqueName(t, "bulwark:test") + ":"
	t.Cleanup(func() { dropPrefix(t, addr, prefix) })
	st, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	require.NoError(t, err)
	ctx := context.Background()
	// Flushing the script cache shows ConfirmMany reloads it.
	require.NoError(t, newClient(t, addr).ScriptFlush(ctx).Err())

	done, err := st.Claim(ctx, "done", time.Minute)
	require.NoError(t, err)
	require.NoError(t, st.Confirm(ctx, "done", done.Token, time.Minute))
	_, err = st.Claim(ctx, "busy", time.Minute)
	require.NoError(t, err)
	require.NoError(t, newClient(t, addr).ScriptFlush(ctx).Err())

	claims, err := st.ClaimMany(ctx, []string{"a", "done", "busy", "b"}, time.Minute)
	require.NoError(t, err)
	states := []dedup.State{claims[0].State, claims[1].State, claims[2].State, claims[3].State}
	assert.Equal(t, []dedup.State{dedup.Acquired, dedup.Duplicate, dedup.Busy, dedup.Acquired}, states)

	errs, err := st.ConfirmMany(ctx, []dedup.Lease{
		{Key: "a", Token: claims[0].Token},
		{Key: "busy", Token: "not-the-holder"},
		{Key: "b", Token: claims[3].Token},
	}, time.Minute)
	require.NoError(t, err)
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], dedup.ErrLeaseLost)
	assert.NoError(t, errs[2])
	again, err := st.ClaimMany(ctx, []string{"a", "b", "busy"}, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, dedup.Duplicate, again[0].State)
	assert.Equal(t, dedup.Duplicate, again[1].State)
	assert.Equal(t, dedup.Busy, again[2].State)
}

// A Redis that is unreachable from the start: the constructor says so
// with the typed error, at once for a refused port, within its bound for a
// server that accepts and never answers.
func TestNewOnUnreachableRedis(t *testing.T) {
	for name, kind := range clientKinds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			refused := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
			defer refused.Close()
			start := time.Now()
			_, err := redisstore.New(kind(t, refused))
			assertUnavailable(t, err, "connection refused")
			assert.Less(t, time.Since(start), 5*time.Second)

			silent := silentClient(t, &redis.Options{MaxRetries: -1})
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			start = time.Now()
			_, err = redisstore.NewContext(ctx, kind(t, silent))
			assertUnavailable(t, err, "no PING reply")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, time.Since(start), 3*time.Second, "returned when its context ended, not after the client's 5 s read timeout")
		})
	}
}

// silentClient is a client of a server that accepts and never answers.
// The server goes first when the test ends, so that closing the client
// does not wait for its timeouts.
func silentClient(t *testing.T, opt *redis.Options) *redis.Client {
	var c *redis.Client
	t.Cleanup(func() { _ = c.Close() })
	opt.Addr = kafkatest.NeverAnswering(t)
	c = redis.NewClient(opt)
	return c
}

func assertUnavailable(t *testing.T, err error, text string) {
	t.Helper()
	var ue *dedup.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, "redisstore", ue.Store)
	assert.Equal(t, "connect", ue.Op)
	assert.ErrorIs(t, err, dedup.ErrUnavailable)
	assert.Contains(t, err.Error(), text)
}

// New without a context bounds its check by DefaultConnectTimeout.
func TestNewBoundsItsCheck(t *testing.T) {
	silent := silentClient(t, &redis.Options{MaxRetries: -1, ReadTimeout: -1})
	start := time.Now()
	_, err := redisstore.New(silent)
	took := time.Since(start)
	assertUnavailable(t, err, "no PING reply")
	assert.GreaterOrEqual(t, took, redisstore.DefaultConnectTimeout-100*time.Millisecond)
	assert.Less(t, took, redisstore.DefaultConnectTimeout+5*time.Second, "a client without read timeout does not hold New")
}

// Redis goes away (the proxy in front of it cuts every connection and
// refuses new ones) while the handler runs: the confirm fails with a
// pause-class error, not a silent pass. A record arriving while Redis is
// gone pauses before its handler runs. Once Redis is back, the first
// record's redelivery records the missed confirm without running the
// handler again, and the second is processed.
func TestRedisGoneMidRunPauses(t *testing.T) {
	for name, kind := range clientKinds {
		t.Run(name, func(t *testing.T) { testRedisGoneMidRun(t, kind) })
	}
}

func testRedisGoneMidRun(t *testing.T, kind func(testing.TB, *redis.Client) redis.Cmdable) {
	addr := servicetest.RedisAddr(t)
	prefix := servicetest.UniqueName(t, "bulwark:test") + ":"
	t.Cleanup(func() { dropPrefix(t, addr, prefix) })
	proxy := servicetest.NewProxy(t, addr)
	viaProxy := redis.NewClient(&redis.Options{Addr: proxy.Addr(), DialTimeout: time.Second, MaxRetries: 1})
	t.Cleanup(func() { _ = viaProxy.Close() })
	st, err := redisstore.New(kind(t, viaProxy), redisstore.WithPrefix(prefix))
	require.NoError(t, err)
	d, err := dedup.New(st, dedup.WithLease(time.Minute), dedup.WithStoreTimeout(2*time.Second))
	require.NoError(t, err)

	runs := map[string]int{}
	h := d.Wrap(bulwark.HandlerFunc(func(_ context.Context, m *bulwark.Message) error {
		runs[m.MessageID()]++
		if m.MessageID() == "m2" {
			proxy.Cut() // Redis is gone before the handler's outcome is recorded
		}
		return nil
	}))
	require.NoError(t, h.Handle(context.Background(), msg("m1")), "works while Redis is there")
	err = h.Handle(context.Background(), msg("m2"))
	require.Error(t, err, "a confirm that never reached Redis passed silently")
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	assert.ErrorIs(t, err, dedup.ErrUnavailable)
	assert.Contains(t, err.Error(), "confirm")

	err = h.Handle(context.Background(), msg("m3"))
	require.Error(t, err)
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	assert.Contains(t, err.Error(), "claim")
	assert.Equal(t, 0, runs["m3"], "handler ran without a claim")

	proxy.Restore()
	require.NoError(t, h.Handle(context.Background(), msg("m2")), "no minute-long wait for m2's lease")
	require.NoError(t, h.Handle(context.Background(), msg("m3")))
	assert.Equal(t, map[string]int{"m1": 1, "m2": 1, "m3": 1}, runs, "every side effect once")

	// What Redis itself holds, read past the proxy.
	direct, err := redisstore.New(newClient(t, addr), redisstore.WithPrefix(prefix))
	require.NoError(t, err)
	for _, id := range []string{"m1", "m2", "m3"} {
		c, err := direct.Claim(context.Background(), id, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, dedup.Duplicate, c.State, id)
	}
}

// The client closed under the store (the process shutting down) pauses
// too, and no later record runs without a claim.
func TestRedisClientClosedPauses(t *testing.T) {
	for name, kind := range clientKinds {
		t.Run(name, func(t *testing.T) { testRedisClientClosed(t, kind) })
	}
}

func testRedisClientClosed(t *testing.T, kind func(testing.TB, *redis.Client) redis.Cmdable) {
	addr := servicetest.RedisAddr(t)
	prefix := servicetest.UniqueName(t, "bulwark:test") + ":"
	t.Cleanup(func() { dropPrefix(t, addr, prefix) })
	c := redis.NewClient(&redis.Options{Addr: addr})
	st, err := redisstore.New(kind(t, c), redisstore.WithPrefix(prefix))
	require.NoError(t, err)
	d, err := dedup.New(st)
	require.NoError(t, err)
	h := d.Wrap(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		return c.Close() // the server is gone as far as this consumer can tell
	}))
	err = h.Handle(context.Background(), msg("m1"))
	require.Error(t, err)
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	assert.ErrorIs(t, err, redis.ErrClosed)

	// Next record on the dead client: no claim, no handler run.
	ran := false
	err = d.Wrap(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { ran = true; return nil })).
		Handle(context.Background(), msg("m2"))
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	assert.ErrorIs(t, err, redis.ErrClosed)
	assert.False(t, ran)
}

func msg(id string) *bulwark.Message {
	m := &bulwark.Message{Topic: "t"}
	m.SetHeader(bulwark.HeaderMessageID, []byte(id))
	return m
}
