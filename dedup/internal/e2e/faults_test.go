package e2e_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/redisstore"
	"github.com/bulwarkgo/bulwark/dedup/sqlstore"
	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

const (
	outageFor    = 3 * time.Second  // how long a dependency is gone
	resumeWithin = 15 * time.Second // all records committed this long after it is back
	pauseDelay   = 200 * time.Millisecond
	faultRecords = 40
)

// The dedup middleware's cells of the fault matrix: a dependency outage
// pauses the partition and burns no record, a foreign producer's records
// are processed once, and the store constructors fail with a typed error
// in bounded time.
func TestFaultMatrix(t *testing.T) {
	t.Run("redis down 3s", testRedisDown)
	t.Run("postgres down 3s", func(t *testing.T) { testPostgresOutage(t, false) })
	t.Run("postgres restarted", func(t *testing.T) { testPostgresOutage(t, true) })
	t.Run("no message-id header", testForeignProducer)
	t.Run("redis never answers at start", testRedisNeverAnswers)
	t.Run("postgres never answers at start", testPostgresNeverAnswers)
}

func testLogger() *slog.Logger {
	if os.Getenv("BULWARK_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// observed is the outermost middleware of a pipeline: it sees what the
// consumer sees from the dedup middleware and the handler.
type observed struct {
	mu          sync.Mutex
	firstPause  time.Time
	lastPause   time.Time
	pauses      int
	others      []string // errors of any other class, for the failure message
	pauseErrors []string // a few, for the log
}

func (o *observed) middleware(next bulwark.Handler) bulwark.Handler {
	return bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
		err := next.Handle(ctx, m)
		if err == nil || ctx.Err() != nil {
			return err
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if bulwark.ClassOf(err) == bulwark.ClassPause {
			now := time.Now()
			if o.pauses == 0 {
				o.firstPause = now
			}
			o.lastPause = now
			o.pauses++
			if len(o.pauseErrors) < 5 {
				o.pauseErrors = append(o.pauseErrors, err.Error())
			}
		} else {
			o.others = append(o.others, fmt.Sprintf("%s/%d@%d: %v (%v)", m.Topic, m.Partition, m.Offset, err, bulwark.ClassOf(err)))
		}
		return err
	})
}

// outage takes a dependency away once, from inside a handler, and brings
// it back outageFor later.
type outage struct {
	cut, restore func()
	once         sync.Once
	timer        *time.Timer
	cutAt        time.Time
	restored     chan struct{}
	restoredAt   time.Time // set before restored is closed
}

func newOutage(t *testing.T, cut, restore func()) *outage {
	o := &outage{cut: cut, restore: restore, restored: make(chan struct{})}
	t.Cleanup(func() {
		if o.timer != nil && o.timer.Stop() {
			o.restore()
		}
	})
	return o
}

// begin cuts the dependency, the first time it is called.
func (o *outage) begin() {
	o.once.Do(func() {
		o.cutAt = time.Now()
		o.cut()
		o.timer = time.AfterFunc(outageFor, func() {
			o.restore()
			o.restoredAt = time.Now()
			close(o.restored)
		})
	})
}

type member struct {
	c    *consumer.Consumer
	stop func() error
}

// startMember runs a consumer of topic in group with mws around handler;
// it is stopped when the test ends unless stopped before.
func startMember(t *testing.T, cl *kafkatest.Cluster, group, topic string, handler bulwark.Handler, dialer *kafkatest.Dialer, opts ...consumer.Option) member {
	connOpts := cl.ConnOptions()
	if dialer != nil {
		connOpts = append(connOpts, conn.WithDialer(dialer))
	}
	c, err := consumer.New(cl.Brokers(), group, []string{topic}, handler, append([]consumer.Option{
		consumer.WithConnection(connOpts...),
		consumer.WithCommitInterval(100 * time.Millisecond),
		consumer.WithHeartbeatInterval(300 * time.Millisecond),
		consumer.WithSessionTimeout(2 * time.Second),
		consumer.WithGracePeriod(time.Second),
		consumer.WithPauseDelay(pauseDelay),
		// Few, fast attempts: a store error that were not pause-class would
		// dead-letter records within the outage.
		consumer.WithRetry(3, 10*time.Millisecond, 50*time.Millisecond),
		consumer.WithLogger(testLogger()),
	}, opts...)...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var (
		once    sync.Once
		stopErr error
		asked   atomic.Bool // the test stopped it and judges the error itself
	)
	run := func() error {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					stopErr = err
				}
			case <-time.After(30 * time.Second):
				stopErr = errors.New("Run did not return within 30s of cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := run(); err != nil && !asked.Load() {
			t.Errorf("consumer %s: %v", group, err)
		}
	})
	return member{c: c, stop: func() error { asked.Store(true); return run() }}
}

// produce sends n records with keys key-000... through the bulwark
// producer, which gives each a message ID.
func produce(t *testing.T, cl *kafkatest.Cluster, topic string, n int) {
	p, err := producer.New(cl.Brokers(), producer.WithConnection(cl.ConnOptions()...))
	require.NoError(t, err)
	defer p.Close()
	for i := range n {
		_, err := p.Send(context.Background(), &bulwark.Message{Topic: topic, Key: fmt.Appendf(nil, "key-%03d", i), Value: []byte("v")})
		require.NoError(t, err)
	}
}

// waitCommitted waits until group has committed n records of topic.
func waitCommitted(t *testing.T, cl *kafkatest.Cluster, group, topic string, n int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		offs, err := cl.CommittedOffsets(context.Background(), group, topic)
		var sum int64
		if err == nil {
			for _, o := range offs {
				sum += o
			}
		}
		if sum == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records committed after %v (last error %v)", sum, n, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assertNoDeadLetters checks the dead-letter topic, created with the
// cluster, holds nothing.
func assertNoDeadLetters(t *testing.T, cl *kafkatest.Cluster, topic string) {
	t.Helper()
	dlt, err := cl.ReadTopic(context.Background(), consumer.DefaultDeadLetterTopic(topic))
	require.NoError(t, err)
	assert.Empty(t, dlt, "records dead-lettered")
}

// outagePipeline is what the outage cells share: records through a
// consumer with the dedup middleware while a handler takes the store away.
type outagePipeline struct {
	store   dedup.Store
	handler func(o *outage) bulwark.Handler // calls o.begin() mid-stream
	cut     func()
	restore func()
	effects func(t *testing.T) map[string]int
}

func runOutage(t *testing.T, p outagePipeline) (took time.Duration) {
	const topic, group = "orders", "billing"
	cl := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2), kafkatest.WithTopic(consumer.DefaultDeadLetterTopic(topic), 1),
		kafkatest.WithMinSessionTimeout(time.Second))
	d, err := dedup.New(p.store, dedup.WithLease(3*time.Second), dedup.WithBusyWait(10*time.Second),
		dedup.WithRetention(time.Minute), dedup.WithStoreTimeout(time.Second), dedup.WithLogger(testLogger()))
	require.NoError(t, err)
	o := newOutage(t, p.cut, p.restore)
	var obs observed
	produce(t, cl, topic, faultRecords)
	m := startMember(t, cl, group, topic, p.handler(o), nil, consumer.WithMiddleware(obs.middleware, d.Middleware()))

	select {
	case <-o.restored:
	case <-time.After(60 * time.Second):
		t.Fatal("the outage never began: no handler reached its trigger")
	}
	waitCommitted(t, cl, group, topic, faultRecords, resumeWithin)
	took = time.Since(o.restoredAt)
	require.NoError(t, m.stop())

	effects := p.effects(t)
	for i := range faultRecords {
		key := fmt.Sprintf("key-%03d", i)
		assert.Equal(t, 1, effects[key], "side effect of %s", key)
	}
	assert.Len(t, effects, faultRecords, "no side effect of anything else")
	assertNoDeadLetters(t, cl, topic)
	st := m.c.Stats()
	assert.Zero(t, st.DeadLettered, "dead-lettered")
	assert.Zero(t, st.Retried, "retry attempts used")
	obs.mu.Lock()
	defer obs.mu.Unlock()
	assert.Empty(t, obs.others, "errors other than pause-class reached the consumer")
	require.Positive(t, obs.pauses, "the partition never paused")
	assert.Equal(t, int64(obs.pauses), st.Paused)
	assert.False(t, obs.firstPause.Before(o.cutAt), "paused before the outage")
	assert.True(t, obs.lastPause.Before(o.restoredAt.Add(resumeWithin)), "still pausing long after the store came back")
	for _, p := range st.Partitions {
		assert.False(t, p.Paused, "partition %d still paused", p.Partition)
	}
	t.Logf("%d pause-class returns during the %v outage (e.g. %q); all %d records committed %v after the store came back",
		obs.pauses, outageFor, obs.pauseErrors, faultRecords, took.Round(time.Millisecond))
	return took
}

const outageRecords = "0 lost, 0 dead-lettered, 0 retry attempts, side effects once"

func testRedisDown(t *testing.T) {
	t.Parallel()
	faultmatrix.Report(t, faultmatrix.Cell{
		Fault: "Redis down 3 s (proxy cut mid-stream)", Component: "dedup (redisstore)",
		Bound:   fmt.Sprintf("all records committed within %d s of Redis coming back", resumeWithin/time.Second),
		Outcome: "pause-class (dedup.ErrUnavailable), partition paused, resumed", Records: outageRecords,
	})
	addr := servicetest.RedisAddr(t)
	proxy := servicetest.NewProxy(t, addr)
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: 1})
	t.Cleanup(func() { _ = client.Close() })
	// Keys expire a minute after the test (retention), so none is left.
	st, err := redisstore.New(client, redisstore.WithPrefix(servicetest.UniqueName(t, "bulwark:faults")+":"))
	require.NoError(t, err)

	var mu sync.Mutex
	effects := map[string]int{}
	runOutage(t, outagePipeline{
		store: st, cut: proxy.Cut, restore: proxy.Restore,
		handler: func(o *outage) bulwark.Handler {
			return bulwark.HandlerFunc(func(_ context.Context, m *bulwark.Message) error {
				mu.Lock()
				effects[string(m.Key)]++
				mu.Unlock()
				if string(m.Key) == "key-015" {
					o.begin() // the side effect happened; Redis goes before its confirm
				}
				return nil
			})
		},
		effects: func(*testing.T) map[string]int { mu.Lock(); defer mu.Unlock(); return effects },
	})
}

// testPostgresOutage: the store and the handler's side effect share one
// database reached through a proxy; the handler writes the side effect and
// the dedup mark in one transaction (ConfirmTx). Mid-stream, before a
// handler commits, the server goes for 3 s: cut, or with restart also
// every session of the pipeline terminated first (SQLSTATE 57P01, as a
// restart sends).
func testPostgresOutage(t *testing.T, restart bool) {
	t.Parallel()
	fault, outcome := "PostgreSQL down 3 s (proxy cut mid-transaction)", "pause-class (dedup.ErrUnavailable), partition paused, resumed"
	if restart {
		fault = "PostgreSQL restarted (sessions terminated, 57P01, then down 3 s)"
	}
	faultmatrix.Report(t, faultmatrix.Cell{
		Fault: fault, Component: "dedup (sqlstore, ConfirmTx)",
		Bound:   fmt.Sprintf("all records committed within %d s of PostgreSQL coming back", resumeWithin/time.Second),
		Outcome: outcome, Records: outageRecords,
	})
	db, proxy, app := servicetest.PostgresViaProxy(t)
	admin := servicetest.Postgres(t)
	table := servicetest.UniqueName(t, "bulwark_dedup")
	t.Cleanup(func() { _, _ = admin.Exec("DROP TABLE IF EXISTS " + table) })
	effectsTable := servicetest.UniqueName(t, "effects")
	_, err := admin.Exec("CREATE TABLE " + effectsTable + " (k text NOT NULL)")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec("DROP TABLE IF EXISTS " + effectsTable) })
	st, err := sqlstore.New(context.Background(), db, sqlstore.WithTable(table))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })

	cut := proxy.Cut
	var saw57P01 atomic.Bool
	if restart {
		cut = func() {
			// The sessions' 57P01 must reach the clients before the cut
			// closes their connections: wait for the proxy to forward it.
			open := proxy.Open()
			terminateSessions(t, admin, app)
			if !proxy.WaitClosed(open, 10*time.Second) {
				t.Errorf("the proxy still holds connections of %s 10s after their sessions ended", app)
			}
			proxy.Cut()
		}
	}
	runOutage(t, outagePipeline{
		store: st, cut: cut, restore: proxy.Restore,
		handler: func(o *outage) bulwark.Handler {
			return bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) (err error) {
				defer func() {
					if err != nil && strings.Contains(err.Error(), "57P01") {
						saw57P01.Store(true)
					}
				}()
				lease, ok := dedup.LeaseFrom(ctx)
				if !ok {
					return bulwark.Permanentf("no dedup lease")
				}
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return sqlstore.ClassifyError(err)
				}
				defer func() { _ = tx.Rollback() }()
				if _, err := tx.ExecContext(ctx, "INSERT INTO "+effectsTable+" VALUES ($1)", string(m.Key)); err != nil {
					return sqlstore.ClassifyError(err)
				}
				if err := st.ConfirmTx(ctx, tx, lease.Key, lease.Token, time.Minute); err != nil {
					return err
				}
				if string(m.Key) == "key-015" {
					o.begin() // the server goes before this transaction commits
				}
				return sqlstore.ClassifyError(tx.Commit())
			})
		},
		effects: func(t *testing.T) map[string]int {
			rows, err := admin.Query("SELECT k, count(*) FROM " + effectsTable + " GROUP BY k")
			require.NoError(t, err)
			defer rows.Close()
			out := map[string]int{}
			for rows.Next() {
				var k string
				var n int
				require.NoError(t, rows.Scan(&k, &n))
				out[k] = n
			}
			require.NoError(t, rows.Err())
			return out
		},
	})
	if restart {
		assert.True(t, saw57P01.Load(), "the handler's transaction saw the server's admin shutdown")
	}
}

// terminateSessions ends every session of app as a server shutting down
// does (pg_terminate_backend sends 57P01), and waits until they are gone.
func terminateSessions(t *testing.T, admin *sql.DB, app string) {
	var pids []int64
	rows, err := admin.Query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
	if err == nil {
		for rows.Next() {
			var pid int64
			if rows.Scan(&pid) == nil {
				pids = append(pids, pid)
			}
		}
		err = rows.Err()
		rows.Close()
	}
	if err != nil || len(pids) == 0 {
		t.Errorf("sessions of %s: %v, %d found", app, err, len(pids))
		return
	}
	for _, pid := range pids {
		_, _ = admin.Exec("SELECT pg_terminate_backend($1)", pid)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var left int
		pidList := make([]string, len(pids))
		for i, p := range pids {
			pidList[i] = fmt.Sprint(p)
		}
		if admin.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE pid IN ("+strings.Join(pidList, ",")+")").Scan(&left) == nil && left == 0 {
			return
		}
	}
	t.Errorf("sessions of %s still there 10s after pg_terminate_backend", app)
}

// A producer that sets no message-ID header (here franz-go's own client)
// feeds the topic. The dedup middleware keys its records by position:
// every record is processed once and none is dead-lettered. The consumer
// then crashes before committing; its replacement in the group gets every
// record again, at the same offsets, and drops them all as duplicates.
func testForeignProducer(t *testing.T) {
	t.Parallel()
	const bound = 20 * time.Second
	faultmatrix.Report(t, faultmatrix.Cell{
		Fault: "records without a message-ID header (foreign producer), redelivered after a crash", Component: "dedup (redisstore)",
		Bound:   fmt.Sprintf("processed within %d s, redeliveries committed within %d s", bound/time.Second, bound/time.Second),
		Outcome: "keyed by dedup.OffsetKey; redelivery of the same offsets dropped as duplicates",
		Records: "0 lost, 0 dead-lettered, side effects once",
	})
	const topic, group = "legacy", "importer"
	cl := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2), kafkatest.WithTopic(consumer.DefaultDeadLetterTopic(topic), 1),
		kafkatest.WithMinSessionTimeout(time.Second))
	kc, err := kgo.NewClient(kgo.SeedBrokers(cl.Brokers()...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	for i := range faultRecords {
		r := &kgo.Record{Key: fmt.Appendf(nil, "key-%03d", i), Value: []byte("v")}
		require.NoError(t, kc.ProduceSync(context.Background(), r).FirstErr())
	}
	kc.Close()

	addr := servicetest.RedisAddr(t)
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	st, err := redisstore.New(client, redisstore.WithPrefix(servicetest.UniqueName(t, "bulwark:faults")+":"))
	require.NoError(t, err)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	d, err := dedup.New(st, dedup.WithRetention(time.Minute), dedup.WithMeterProvider(mp), dedup.WithLogger(testLogger()))
	require.NoError(t, err)

	var (
		mu      sync.Mutex
		effects = map[string]int{}
		keys    = map[string]string{} // dedup key by record key
		ran     = make(chan struct{}, faultRecords)
	)
	handler := bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
		_, hasID := m.Header(bulwark.HeaderMessageID)
		if hasID {
			return bulwark.Permanentf("record %s has a message ID: not a foreign producer", m.Key)
		}
		l, _ := dedup.LeaseFrom(ctx)
		mu.Lock()
		effects[string(m.Key)]++
		keys[string(m.Key)] = l.Key
		mu.Unlock()
		ran <- struct{}{}
		return nil
	})
	var obs observed
	dialer := kafkatest.NewDialer()
	first := startMember(t, cl, group, topic, handler, dialer,
		consumer.WithMiddleware(obs.middleware, d.Middleware()),
		consumer.WithCommitInterval(time.Hour)) // nothing committed before the crash
	deadline := time.After(bound)
	for range faultRecords {
		select {
		case <-ran:
		case <-deadline:
			t.Fatalf("not every record was processed within %v", bound)
		}
	}
	dialer.Kill() // the process crashes: its final commit never reaches Kafka
	if err := first.stop(); err != nil {
		t.Logf("crashed consumer: %v", err)
	}
	offs, err := cl.CommittedOffsets(context.Background(), group, topic)
	if err == nil {
		for p, o := range offs {
			require.LessOrEqual(t, o, int64(0), "partition %d committed before the crash: nothing to redeliver", p)
		}
	}

	second := startMember(t, cl, group, topic, handler, nil, consumer.WithMiddleware(obs.middleware, d.Middleware()))
	waitCommitted(t, cl, group, topic, faultRecords, bound)
	require.NoError(t, second.stop())

	mu.Lock()
	defer mu.Unlock()
	for i := range faultRecords {
		k := fmt.Sprintf("key-%03d", i)
		assert.Equal(t, 1, effects[k], "side effect of %s", k)
		assert.True(t, strings.HasPrefix(keys[k], "offset:"+topic+"/"), "dedup key of %s: %q", k, keys[k])
	}
	assert.Equal(t, int64(faultRecords), counter(t, reader, dedup.MetricDuplicates), "every redelivery dropped")
	assert.Equal(t, int64(2*faultRecords), counter(t, reader, dedup.MetricFallbackKeys), "every delivery keyed by the fallback")
	assertNoDeadLetters(t, cl, topic)
	assert.Zero(t, first.c.Stats().DeadLettered+second.c.Stats().DeadLettered)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	assert.Empty(t, obs.others, "errors reached the consumer")
}

const (
	startBound   = 3 * time.Second // from a 1 s context
	startOutcome = "*dedup.UnavailableError (connect, dedup.ErrUnavailable)"
)

func testRedisNeverAnswers(t *testing.T) {
	t.Parallel()
	faultmatrix.Report(t, faultmatrix.Cell{
		Fault: "Redis address accepts and never answers", Component: "dedup (redisstore.NewContext)",
		Bound: "returns within 3 s of a 1 s context (client read timeout 5 s)", Outcome: startOutcome,
	})
	addr := kafkatest.NeverAnswering(t)
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() }) // after the listener closes (cleanups run last first)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := redisstore.NewContext(ctx, client)
	assertStartFailure(t, err, "redisstore", time.Since(start))
}

func testPostgresNeverAnswers(t *testing.T) {
	t.Parallel()
	faultmatrix.Report(t, faultmatrix.Cell{
		Fault: "PostgreSQL address accepts and never answers", Component: "dedup (sqlstore.New)",
		Bound: "returns within 3 s of a 1 s context", Outcome: startOutcome,
	})
	db, err := sql.Open("pgx", "postgres://postgres@"+kafkatest.NeverAnswering(t)+"/test?sslmode=disable")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err = sqlstore.New(ctx, db)
	assertStartFailure(t, err, "sqlstore", time.Since(start))
}

func assertStartFailure(t *testing.T, err error, store string, took time.Duration) {
	t.Helper()
	var ue *dedup.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, store, ue.Store)
	assert.Equal(t, "connect", ue.Op)
	assert.ErrorIs(t, err, dedup.ErrUnavailable)
	assert.Less(t, took, startBound)
	t.Logf("%s: %v after %v", store, err, took.Round(time.Millisecond))
}
