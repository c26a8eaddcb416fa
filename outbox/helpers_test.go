package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/outbox"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/require"
)

// newTable returns a migrated outbox on a table of the test's own, dropped
// when the test ends.
func newTable(t testing.TB, db *sql.DB) *outbox.Outbox {
	t.Helper()
	name := servicetest.UniqueName(t, "ob")
	if len(name) > 53 {
		name = name[:40] + name[len(name)-13:]
	}
	ob, err := outbox.New(outbox.WithTable(name))
	require.NoError(t, err)
	require.NoError(t, ob.Migrate(context.Background(), db))
	t.Cleanup(func() {
		_, _ = db.Exec("DROP TABLE IF EXISTS " + name)
		_, _ = db.Exec("DROP TABLE IF EXISTS " + name + "_positions")
	})
	return ob
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newProducer(t testing.TB, c *kafkatest.Cluster, opts ...producer.Option) *producer.Producer {
	t.Helper()
	p, err := producer.New(c.Brokers(), append([]producer.Option{producer.WithConnection(c.ConnOptions()...)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// place commits msgs in one transaction, or rolls it back.
func place(t testing.TB, db *sql.DB, ob *outbox.Outbox, commit bool, msgs ...*bulwark.Message) {
	t.Helper()
	tx, err := db.Begin()
	require.NoError(t, err)
	for _, m := range msgs {
		require.NoError(t, ob.Place(context.Background(), tx, m))
	}
	if commit {
		require.NoError(t, tx.Commit())
	} else {
		require.NoError(t, tx.Rollback())
	}
}

func msg(topic, key string, seq int) *bulwark.Message {
	return &bulwark.Message{Topic: topic, Key: []byte(key), Value: fmt.Appendf(nil, "%s/%d", key, seq),
		Headers: []bulwark.Header{{Key: "seq", Value: fmt.Appendf(nil, "%d", seq)}}}
}

// pending returns how many rows the outbox holds.
func pending(t testing.TB, db *sql.DB, ob *outbox.Outbox) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM "+ob.Table()).Scan(&n))
	return n
}

// waitDrained waits until the outbox is empty, failing after d.
func waitDrained(t testing.TB, db *sql.DB, ob *outbox.Outbox, d time.Duration, relays ...*outbox.Relay) {
	t.Helper()
	deadline := time.Now().Add(d)
	for pending(t, db, ob) > 0 {
		if time.Now().After(deadline) {
			for i, r := range relays {
				t.Logf("relay %d: %+v", i, r.Stats())
			}
			t.Fatalf("outbox still holds %d rows after %v", pending(t, db, ob), d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runRelay runs r until the returned stop is called (or the test ends).
func runRelay(t testing.TB, r *outbox.Relay) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30s of its context ending")
		}
	}
	t.Cleanup(stop)
	return stop
}

// checkExactlyOnce checks that recs hold each of want's message values
// exactly once, and per key in the order of want.
func checkExactlyOnce(t testing.TB, recs []*bulwark.Message, want map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	seen := map[string]int{}
	for _, m := range recs {
		got[string(m.Key)] = append(got[string(m.Key)], string(m.Value))
		seen[string(m.Value)]++
	}
	total := 0
	for k, vs := range want {
		total += len(vs)
		require.Equal(t, vs, got[k], "key %s: every committed row once, in order", k)
	}
	for v, n := range seen {
		require.Equal(t, 1, n, "record %s published %d times", v, n)
	}
	require.Len(t, recs, total, "records in the topic")
}

// crashingSender passes records to a real sender and calls crash once,
// on the acknowledgement numbered at (from 1), before reporting it: the
// relay then fails to mark a batch Kafka holds, as a relay killed between
// publishing and marking would.
type crashingSender struct {
	s     outbox.Sender
	at    int64
	acks  atomic.Int64
	crash func()
}

func (c *crashingSender) SendAsync(ctx context.Context, m *bulwark.Message, done func(producer.Result, error)) {
	c.s.SendAsync(ctx, m, func(res producer.Result, err error) {
		if err == nil && c.acks.Add(1) == c.at {
			c.crash()
		}
		done(res, err)
	})
}

// placeMany commits n rows of keys k0..k(keys-1) (seq from first), 100 per
// transaction, and adds them to want.
func placeMany(t testing.TB, db *sql.DB, ob *outbox.Outbox, topic string, first, n, keys int, want map[string][]string) {
	t.Helper()
	var batch []*bulwark.Message
	for i := first; i < first+n; i++ {
		key := fmt.Sprintf("k%d", i%keys)
		m := msg(topic, key, i)
		batch = append(batch, m)
		want[key] = append(want[key], string(m.Value))
		if len(batch) == 100 || i == first+n-1 {
			place(t, db, ob, true, batch...)
			batch = nil
		}
	}
}

// checkTopic reads topic and checks it as checkExactlyOnce does.
func checkTopic(t testing.TB, c *kafkatest.Cluster, topic string, want map[string][]string) []*bulwark.Message {
	t.Helper()
	recs, err := c.ReadTopic(ctxFor(t, 60*time.Second), topic)
	require.NoError(t, err)
	checkExactlyOnce(t, recs, want)
	return recs
}

// proxiedEnv: an outbox table, a pool straight to PostgreSQL and one
// through a proxy the test cuts, a cluster with topic "events" (3
// partitions) and a producer on it.
type proxiedEnv struct {
	direct, proxied *sql.DB
	proxy           *servicetest.Proxy
	ob              *outbox.Outbox
	c               *kafkatest.Cluster
	p               *producer.Producer
}

func newProxiedEnv(t *testing.T) proxiedEnv {
	t.Helper()
	e := proxiedEnv{direct: servicetest.Postgres(t)}
	e.proxied, e.proxy, _ = servicetest.PostgresViaProxy(t)
	e.ob = newTable(t, e.direct)
	e.c = kafkatest.NewCluster(t, kafkatest.WithTopic("events", 3))
	e.p = newProducer(t, e.c)
	return e
}
