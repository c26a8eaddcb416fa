package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/logtest"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/outbox"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/bulwarkgo/bulwark/producer/producertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Committed rows are published once each, in order per key, with their
// headers and message IDs; rolled-back ones never.
func TestRelayPublishesCommittedRows(t *testing.T) {
	db := servicetest.Postgres(t)
	ob := newTable(t, db)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("events", 3))
	want := map[string][]string{}
	for i := range 50 {
		key := fmt.Sprintf("k%d", i%7)
		m := msg("events", key, i)
		if i == 3 {
			m.SetHeader(bulwark.HeaderMessageID, []byte("given-id"))
		}
		place(t, db, ob, true, m)
		want[key] = append(want[key], string(m.Value))
	}
	place(t, db, ob, false, msg("events", "k1", 1000), msg("events", "k2", 1001))

	r, err := outbox.NewRelay(db, newProducer(t, c), c.Brokers(), outbox.WithTable(ob.Table()),
		outbox.WithConnection(c.ConnOptions()...), outbox.WithPollInterval(20*time.Millisecond), outbox.WithBatchSize(8))
	require.NoError(t, err)
	stop := runRelay(t, r)
	waitDrained(t, db, ob, 20*time.Second, r)
	stop()

	recs := checkTopic(t, c, "events", want)
	ids := map[string]bool{}
	for _, m := range recs {
		ids[m.MessageID()] = true
		seq, _ := m.Header("seq")
		assert.NotEmpty(t, seq, "headers kept")
		if string(m.Value) == "k3/3" {
			assert.Equal(t, "given-id", m.MessageID(), "a given message ID is kept")
		}
	}
	assert.Len(t, ids, 50, "unique message IDs")
	st := r.Stats()
	assert.EqualValues(t, 50, st.Published)
	assert.Zero(t, st.Reconciles, "a clean run reconciles nothing")
	assert.Equal(t, outbox.StateStopped, st.State)
}

// A relay that published a batch and died before marking it leaves rows
// in doubt; the next leader finds them in Kafka by reading only what the
// partitions hold past the last marked position (here: the one batch),
// not the 3,000 records before it, and publishes nothing twice.
func TestReconcileReadsOnlyTheTailAfterACrash(t *testing.T) {
	e := newProxiedEnv(t)
	direct, proxied, proxy, ob, c, p := e.direct, e.proxied, e.proxy, e.ob, e.c, e.p
	opts := []outbox.Option{outbox.WithTable(ob.Table()), outbox.WithConnection(c.ConnOptions()...),
		outbox.WithPollInterval(20 * time.Millisecond), outbox.WithRetryBackoff(100 * time.Millisecond),
		outbox.WithBatchSize(50), outbox.WithTakeoverGrace(200 * time.Millisecond)}
	want := map[string][]string{}

	placeMany(t, direct, ob, "events", 0, 3000, 11, want)
	first, err := outbox.NewRelay(direct, p, c.Brokers(), opts...)
	require.NoError(t, err)
	stop := runRelay(t, first)
	waitDrained(t, direct, ob, 30*time.Second, first)
	stop()

	placeMany(t, direct, ob, "events", 3000, 200, 11, want)
	crashing := &crashingSender{s: p, at: 1, crash: proxy.Cut}
	victim, err := outbox.NewRelay(proxied, crashing, c.Brokers(), append(opts, outbox.WithLogger(slog.New(slog.DiscardHandler)))...)
	require.NoError(t, err)
	stopVictim := runRelay(t, victim)
	require.Eventually(t, func() bool { return victim.Stats().Failures > 0 }, 20*time.Second, 10*time.Millisecond)
	stopVictim()
	assert.Equal(t, 200, pending(t, direct, ob), "nothing marked")
	var inDoubt int
	require.NoError(t, direct.QueryRow("SELECT count(*) FROM "+ob.Table()+" WHERE attempted").Scan(&inDoubt))
	require.Equal(t, 50, inDoubt, "the batch Kafka holds is in doubt")

	next, err := outbox.NewRelay(direct, p, c.Brokers(), opts...)
	require.NoError(t, err)
	stop = runRelay(t, next)
	waitDrained(t, direct, ob, 30*time.Second, next)
	stop()
	st := next.Stats()
	assert.EqualValues(t, 1, st.Reconciles)
	assert.EqualValues(t, 50, st.Reconciled, "the batch was found in Kafka")
	assert.EqualValues(t, 50, st.MaxRecordsRead, "read the batch in flight, not the 3,000 records before it")
	checkTopic(t, c, "events", want)
}

// Kafka failures keep rows unsent: they are reconciled (not found) and
// sent again, each once, and a failed row is never overtaken by a later
// row of its key. The failures are logged at WARN and counted.
func TestSendFailuresKeepRowsAndOrder(t *testing.T) {
	db := servicetest.Postgres(t)
	ob := newTable(t, db)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("events", 3))
	fake := producertest.New()
	var calls atomic.Int32
	fake.FailWhen(func(m *bulwark.Message) error {
		if n := calls.Add(1); n == 3 || n == 17 || n == 18 {
			return errors.New("broker unavailable")
		}
		return nil
	})
	want := map[string][]string{}
	placeMany(t, db, ob, "events", 0, 40, 4, want)
	var logs logtest.Buffer
	r, err := outbox.NewRelay(db, fake, c.Brokers(), outbox.WithTable(ob.Table()), outbox.WithConnection(c.ConnOptions()...),
		outbox.WithPollInterval(10*time.Millisecond), outbox.WithRetryBackoff(50*time.Millisecond),
		outbox.WithTakeoverGrace(10*time.Millisecond), outbox.WithBatchSize(12), outbox.WithLogger(logs.Logger(slog.LevelWarn)))
	require.NoError(t, err)
	stop := runRelay(t, r)
	waitDrained(t, db, ob, 20*time.Second, r)
	stop()
	checkExactlyOnce(t, fake.Sent(), want)
	st := r.Stats()
	assert.GreaterOrEqual(t, st.SendFailures, int64(3))
	assert.GreaterOrEqual(t, st.Reconciles, int64(2))
	assert.Zero(t, st.Reconciled, "nothing failed was in Kafka")
	assert.EqualValues(t, 40, st.Published)
	assert.Contains(t, logs.String(), "broker unavailable")
}

// While PostgreSQL is away the relay pauses, visibly, and drops nothing;
// when it is back the rows are published.
func TestPostgresOutagePausesTheRelay(t *testing.T) {
	direct := servicetest.Postgres(t)
	proxied, proxy, _ := servicetest.PostgresViaProxy(t)
	ob := newTable(t, direct)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("events", 3))
	r, err := outbox.NewRelay(proxied, newProducer(t, c), c.Brokers(), outbox.WithTable(ob.Table()),
		outbox.WithConnection(c.ConnOptions()...), outbox.WithPollInterval(10*time.Millisecond),
		outbox.WithRetryBackoff(200*time.Millisecond), outbox.WithTakeoverGrace(50*time.Millisecond),
		outbox.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	want := map[string][]string{}
	placeMany(t, direct, ob, "events", 0, 30, 3, want)
	stop := runRelay(t, r)
	waitDrained(t, direct, ob, 20*time.Second, r)

	proxy.Cut()
	placeMany(t, direct, ob, "events", 30, 30, 3, want)
	require.Eventually(t, func() bool {
		st := r.Stats()
		return st.State == outbox.StatePaused && st.Failures >= 2 && st.LastError != nil
	}, 20*time.Second, 10*time.Millisecond, "paused, retrying")
	assert.Equal(t, 30, pending(t, direct, ob), "nothing dropped")
	proxy.Restore()
	waitDrained(t, direct, ob, 30*time.Second, r)
	stop()
	checkTopic(t, c, "events", want)
}

// Of two relays on one table, one leads and the other stands by; when the
// leader stops, the other takes over.
func TestOneLeaderAtATime(t *testing.T) {
	db := servicetest.Postgres(t)
	ob := newTable(t, db)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("events", 3))
	p := newProducer(t, c)
	newRelay := func() *outbox.Relay {
		r, err := outbox.NewRelay(db, p, c.Brokers(), outbox.WithTable(ob.Table()),
			outbox.WithConnection(c.ConnOptions()...), outbox.WithPollInterval(10*time.Millisecond))
		require.NoError(t, err)
		return r
	}
	a, b := newRelay(), newRelay()
	stopA := runRelay(t, a)
	require.Eventually(t, func() bool { return a.Stats().State == outbox.StateLeader }, 10*time.Second, 5*time.Millisecond)
	runRelay(t, b)
	require.Eventually(t, func() bool { return b.Stats().State == outbox.StateStandby }, 10*time.Second, 5*time.Millisecond)
	want := map[string][]string{}
	placeMany(t, db, ob, "events", 0, 20, 3, want)
	waitDrained(t, db, ob, 20*time.Second, a, b)
	assert.EqualValues(t, 20, a.Stats().Published)
	assert.Zero(t, b.Stats().Published, "the standby published nothing")
	stopA()
	require.Eventually(t, func() bool { return b.Stats().State == outbox.StateLeader }, 10*time.Second, 5*time.Millisecond)
	placeMany(t, db, ob, "events", 20, 20, 3, want)
	waitDrained(t, db, ob, 20*time.Second, a, b)
	assert.EqualValues(t, 20, b.Stats().Published)
	checkTopic(t, c, "events", want)
}

func TestRunAndCloseAreBounded(t *testing.T) {
	db := servicetest.Postgres(t)
	ob := newTable(t, db)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("events", 1))
	r, err := outbox.NewRelay(db, newProducer(t, c), c.Brokers(), outbox.WithTable(ob.Table()),
		outbox.WithConnection(c.ConnOptions()...), outbox.WithPollInterval(10*time.Millisecond))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	require.Eventually(t, func() bool { return r.Stats().State == outbox.StateLeader }, 10*time.Second, 5*time.Millisecond)
	assert.ErrorIs(t, r.Run(context.Background()), outbox.ErrRunning)
	require.NoError(t, r.Close())
	select { // Run has returned; its goroutine is sending the result
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running after Close returned")
	}
	require.NoError(t, r.Close(), "idempotent")
	require.NoError(t, r.Run(context.Background()), "Run after Close returns at once")
	assert.Equal(t, outbox.StateStopped, r.Stats().State)
}

func TestInvalidArguments(t *testing.T) {
	for _, name := range []string{"", "Robert'); DROP TABLE x;--", "has space", "UPPER", "a.b.c", strings.Repeat("x", 54)} {
		_, err := outbox.New(outbox.WithTable(name))
		assert.ErrorIs(t, err, outbox.ErrInvalidConfig, name)
		_, err = outbox.Schema(name)
		assert.ErrorIs(t, err, outbox.ErrInvalidConfig, name)
	}
	_, err := outbox.New(outbox.WithTable("app." + strings.Repeat("x", 53)))
	assert.NoError(t, err)
	fake := producertest.New()
	db := &sql.DB{}
	for _, tc := range []struct {
		db     *sql.DB
		s      outbox.Sender
		broker []string
		opts   []outbox.Option
	}{
		{nil, fake, []string{"127.0.0.1:9092"}, nil},
		{db, nil, []string{"127.0.0.1:9092"}, nil},
		{db, fake, nil, nil},
		{db, fake, []string{"127.0.0.1:9092"}, []outbox.Option{outbox.WithBatchSize(0)}},
		{db, fake, []string{"127.0.0.1:9092"}, []outbox.Option{outbox.WithPollInterval(0)}},
		{db, fake, []string{"127.0.0.1:9092"}, []outbox.Option{outbox.WithTakeoverGrace(-1)}},
		{db, fake, []string{"127.0.0.1:9092"}, []outbox.Option{outbox.WithStopTimeout(0)}},
		{db, fake, []string{"127.0.0.1:9092"}, []outbox.Option{outbox.WithPollInterval(time.Second), outbox.WithRetryBackoff(time.Millisecond)}},
	} {
		_, err := outbox.NewRelay(tc.db, tc.s, tc.broker, tc.opts...)
		assert.ErrorIs(t, err, outbox.ErrInvalidConfig)
	}
	ob, err := outbox.New()
	require.NoError(t, err)
	assert.Equal(t, outbox.DefaultTable, ob.Table())
	assert.ErrorIs(t, ob.Place(context.Background(), nil, msg("t", "k", 1)), outbox.ErrInvalidConfig)
	assert.ErrorIs(t, ob.Migrate(context.Background(), nil), outbox.ErrInvalidConfig)
}

func TestPlaceRejectsBadMessages(t *testing.T) {
	db := servicetest.Postgres(t)
	ob := newTable(t, db)
	tx, err := db.Begin()
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	ctx := context.Background()
	assert.ErrorIs(t, ob.Place(ctx, tx, nil), outbox.ErrInvalidMessage)
	assert.ErrorIs(t, ob.Place(ctx, tx, &bulwark.Message{}), outbox.ErrInvalidMessage)
	assert.ErrorIs(t, ob.Place(ctx, tx, &bulwark.Message{Topic: "bad topic"}), outbox.ErrInvalidMessage)
	require.NoError(t, ob.Place(ctx, tx, &bulwark.Message{Topic: "ok"}), "no key, no value")
}

// A relay stopped mid-batch (PostgreSQL up) finishes the wave in flight,
// marks it, and clears the rows it had not sent: nothing is left in doubt,
// so the next leader publishes at once, without the takeover grace (an
// hour here) or a reconcile.
func TestStopMidBatchLeavesNothingInDoubt(t *testing.T) {
	db := servicetest.Postgres(t)
	ob := newTable(t, db)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("events", 3))
	p := newProducer(t, c)
	want := map[string][]string{}
	placeMany(t, db, ob, "events", 0, 2000, 1, want) // one key: a wave per row
	opts := []outbox.Option{outbox.WithTable(ob.Table()), outbox.WithConnection(c.ConnOptions()...),
		outbox.WithPollInterval(10 * time.Millisecond), outbox.WithBatchSize(2000), outbox.WithTakeoverGrace(time.Hour)}
	first, err := outbox.NewRelay(db, p, c.Brokers(), opts...)
	require.NoError(t, err)
	stop := runRelay(t, first)
	require.Eventually(t, func() bool { return pending(t, db, ob) < 2000 || first.Stats().State == outbox.StateLeader }, 10*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // some waves out
	stop()
	var inDoubt int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM "+ob.Table()+" WHERE attempted").Scan(&inDoubt))
	assert.Zero(t, inDoubt)
	left := pending(t, db, ob)
	require.Positive(t, left, "stopped mid-batch")
	t.Logf("stopped with %d of 2000 rows left", left)

	next, err := outbox.NewRelay(db, p, c.Brokers(), opts...)
	require.NoError(t, err)
	stop = runRelay(t, next)
	waitDrained(t, db, ob, 20*time.Second, next)
	stop()
	assert.Zero(t, next.Stats().Reconciles)
	checkTopic(t, c, "events", want)
}

// A leader whose PostgreSQL connection dies mid-batch (and with it the
// lock) stops handing records over within the session check, so the
// relay taking over, after its grace, finds everything the old one sent
// and publishes nothing twice, though the old relay's producer is alive.
func TestLeaderThatLostItsConnectionStopsSending(t *testing.T) {
	e := newProxiedEnv(t)
	direct, proxied, proxy, ob, c, p := e.direct, e.proxied, e.proxy, e.ob, e.c, e.p
	want := map[string][]string{}
	placeMany(t, direct, ob, "events", 0, 3000, 1, want) // one key: a wave per row
	opts := []outbox.Option{outbox.WithTable(ob.Table()), outbox.WithConnection(c.ConnOptions()...),
		outbox.WithPollInterval(5 * time.Millisecond), outbox.WithRetryBackoff(50 * time.Millisecond),
		outbox.WithBatchSize(3000), outbox.WithTakeoverGrace(400 * time.Millisecond),
		outbox.WithLogger(slog.New(slog.DiscardHandler))}
	zombie, err := outbox.NewRelay(proxied, p, c.Brokers(), opts...)
	require.NoError(t, err)
	runRelay(t, zombie)
	require.Eventually(t, func() bool { return zombie.Stats().State == outbox.StateLeader }, 10*time.Second, time.Millisecond)
	heir, err := outbox.NewRelay(direct, p, c.Brokers(), opts...)
	require.NoError(t, err)
	runRelay(t, heir)
	require.Eventually(t, func() bool { // some waves out
		ends, err := c.EndOffsets(context.Background(), "events", false)
		require.NoError(t, err)
		return ends[0]+ends[1]+ends[2] >= 50
	}, 20*time.Second, time.Millisecond)
	proxy.Cut()
	waitDrained(t, direct, ob, 30*time.Second, zombie, heir)
	assert.Zero(t, zombie.Stats().Published, "the batch never got marked by the zombie")
	assert.Positive(t, heir.Stats().Reconciled, "the heir found what the zombie sent")
	checkTopic(t, c, "events", want)
}

// Services starting together migrate the same table at once; Schema's DDL
// run by hand makes the same tables.
func TestMigrateConcurrentlyAndBySchema(t *testing.T) {
	db := servicetest.Postgres(t)
	ob := newTable(t, db) // migrated once
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- ob.Migrate(context.Background(), db) }()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
	other := ob.Table() + "_x"
	ddl, err := outbox.Schema(other)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + other + ", " + other + "_positions") })
	_, err = db.Exec(ddl)
	require.NoError(t, err)
	byHand, err := outbox.New(outbox.WithTable(other))
	require.NoError(t, err)
	place(t, db, byHand, true, msg("events", "k", 1))
	assert.Equal(t, 1, pending(t, db, byHand))
}

// With the real producer: while Kafka rejects every produce request of
// one partition, the rows going there stay in the outbox (reconciled, not
// found, sent again) and the relay says so; once the fault is removed
// everything arrives, once, in order per key.
func TestKafkaErrorsKeepRowsUnsent(t *testing.T) {
	db := servicetest.Postgres(t)
	ob := newTable(t, db)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("events", 3))
	p := newProducer(t, c, producer.WithDeliveryTimeout(300*time.Millisecond), producer.WithLogger(slog.New(slog.DiscardHandler)))
	fault := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: "events",
		Partitions: []int32{1}, Err: kafkatest.NotEnoughReplicas, Count: -1})
	r, err := outbox.NewRelay(db, p, c.Brokers(), outbox.WithTable(ob.Table()), outbox.WithConnection(c.ConnOptions()...),
		outbox.WithPollInterval(10*time.Millisecond), outbox.WithRetryBackoff(100*time.Millisecond),
		outbox.WithTakeoverGrace(400*time.Millisecond), outbox.WithBatchSize(20), outbox.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	want := map[string][]string{}
	placeMany(t, db, ob, "events", 0, 60, 6, want)
	stop := runRelay(t, r)
	require.Eventually(t, func() bool { st := r.Stats(); return st.SendFailures > 0 && st.Reconciles > 0 },
		20*time.Second, 5*time.Millisecond)
	assert.Positive(t, pending(t, db, ob), "rows of the failing partition wait")
	fault.Remove()
	waitDrained(t, db, ob, 30*time.Second, r)
	stop()
	checkTopic(t, c, "events", want)
}
