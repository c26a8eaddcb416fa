package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/outbox"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// armedSender cuts its relay's PostgreSQL once armed, on the next
// acknowledgement: the relay has published and cannot mark.
type armedSender struct {
	s     outbox.Sender
	armed atomic.Bool
	fired atomic.Int32
	cut   func()
}

func (a *armedSender) SendAsync(ctx context.Context, m *bulwark.Message, done func(producer.Result, error)) {
	a.s.SendAsync(ctx, m, func(res producer.Result, err error) {
		if err == nil && a.armed.CompareAndSwap(true, false) {
			a.cut()
			a.fired.Add(1)
		}
		done(res, err)
	})
}

// slot is one relay "process": its own PostgreSQL path (through a proxy
// the test cuts), its own producer (whose Kafka connections the test
// drops), and the relays it ran one after the other.
type slot struct {
	db      *sql.DB
	proxy   *servicetest.Proxy
	dialer  *kafkatest.Dialer
	sender  *armedSender
	opts    []outbox.Option
	brokers []string

	relays []*outbox.Relay
	stop   func()
}

func (s *slot) start(t *testing.T) {
	r, err := outbox.NewRelay(s.db, s.sender, s.brokers, s.opts...)
	require.NoError(t, err)
	s.relays = append(s.relays, r)
	s.stop = runRelay(t, r)
}

func (s *slot) current() *outbox.Relay { return s.relays[len(s.relays)-1] }

// 10,000 committed rows (and rolled-back ones) placed by concurrent
// transactions, relayed by two relays while the test kills them at random
// points: cancelling a relay's context, cutting its PostgreSQL, dropping
// its Kafka connections, and cutting its PostgreSQL between publishing a
// batch and marking it. Kafka ends up with every committed row exactly
// once, in order per key, and nothing rolled back; every reconcile read
// at most a batch of records, however long the topic had grown.
func TestExactlyOnceUnderChaos(t *testing.T) {
	const (
		writers     = 8
		keysEach    = 5
		rowsEach    = 1250 // committed rows per writer: 10,000 in all
		batchSize   = 100
		chaosEvents = 8
	)
	direct := servicetest.Postgres(t)
	direct.SetMaxOpenConns(writers + 2)
	ob := newTable(t, direct)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("events", 3))
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))

	quiet := slog.New(slog.DiscardHandler)
	slots := make([]*slot, 2)
	for i := range slots {
		db, proxy, _ := servicetest.PostgresViaProxy(t)
		d := kafkatest.NewDialer()
		p := newProducer(t, c, producer.WithConnection(conn.WithDialer(d)), producer.WithDeliveryTimeout(time.Second),
			producer.WithLogger(quiet))
		s := &slot{db: db, proxy: proxy, dialer: d, brokers: c.Brokers(),
			sender: &armedSender{s: p, cut: proxy.Cut}}
		s.opts = []outbox.Option{outbox.WithTable(ob.Table()), outbox.WithConnection(c.ConnOptions()...),
			outbox.WithBatchSize(batchSize), outbox.WithPollInterval(10 * time.Millisecond),
			outbox.WithRetryBackoff(100 * time.Millisecond), outbox.WithTakeoverGrace(2500 * time.Millisecond),
			outbox.WithStopTimeout(3 * time.Second), outbox.WithLogger(quiet)}
		s.start(t)
		slots[i] = s
	}

	var (
		mu         sync.Mutex
		want       = map[string][]string{}
		rolledBack atomic.Int32
		wg         sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
			seq := 0
			for committed := 0; committed < rowsEach; {
				n := min(1+r.IntN(5), rowsEach-committed)
				commit := r.IntN(10) != 0
				var vals [][2]string
				tx, err := direct.Begin()
				if !assert.NoError(t, err) {
					return
				}
				for range n {
					key := fmt.Sprintf("w%d-k%d", w, r.IntN(keysEach))
					m := msg("events", key, seq)
					m.Value = fmt.Appendf(nil, "%s/%d", key, seq)
					seq++
					if !assert.NoError(t, ob.Place(context.Background(), tx, m)) {
						_ = tx.Rollback()
						return
					}
					vals = append(vals, [2]string{key, string(m.Value)})
				}
				if !commit {
					_ = tx.Rollback()
					rolledBack.Add(int32(n))
					continue
				}
				if !assert.NoError(t, tx.Commit()) {
					return
				}
				committed += n
				mu.Lock()
				for _, kv := range vals {
					want[kv[0]] = append(want[kv[0]], kv[1])
				}
				mu.Unlock()
			}
		}()
	}

	// leader returns the slot leading now, waiting for one (after a cut,
	// the other takes over within the takeover grace).
	leader := func() *slot {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, s := range slots {
				if s.current().Stats().State == outbox.StateLeader {
					return s
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("no relay became the leader within 20s")
		return nil
	}
	pause := func() { time.Sleep(time.Duration(150+rng.IntN(350)) * time.Millisecond) }
	for i := range chaosEvents {
		pause()
		action := rng.IntN(4)
		if i == 0 {
			action = 3 // at least once: published, then cut before marking
		}
		s := leader()
		switch action {
		case 0:
			t.Logf("event %d: restart a relay", i)
			s.stop()
			s.start(t)
		case 1:
			t.Logf("event %d: cut a relay's PostgreSQL", i)
			s.proxy.Cut()
			pause()
			s.proxy.Restore()
		case 2:
			t.Logf("event %d: drop a relay's Kafka connections", i)
			s.dialer.DropConnections()
		case 3:
			t.Logf("event %d: cut a relay's PostgreSQL between publishing and marking", i)
			s.sender.armed.Store(true)
			// It fires on the leader's next batch, unless the leader lost
			// its place meanwhile (then the event is skipped).
			fired := false
			for end := time.Now().Add(10 * time.Second); !fired && time.Now().Before(end); time.Sleep(time.Millisecond) {
				fired = !s.sender.armed.Load()
			}
			if i == 0 {
				require.True(t, fired, "the first leader published a batch")
			}
			if !fired && s.sender.armed.CompareAndSwap(true, false) {
				t.Logf("event %d skipped: the relay lost the lead before publishing", i)
			}
			pause()
			s.proxy.Restore()
		}
	}
	wg.Wait()
	for _, s := range slots {
		s.sender.armed.Store(false)
		s.proxy.Restore()
	}
	waitDrained(t, direct, ob, 60*time.Second, slots[0].current(), slots[1].current())
	for _, s := range slots {
		s.stop()
	}

	recs := checkTopic(t, c, "events", want)
	t.Logf("%d records, %d rows rolled back", len(recs), rolledBack.Load())

	var reconciles, reconciled, read, published int64
	for _, s := range slots {
		for _, r := range s.relays {
			st := r.Stats()
			assert.LessOrEqual(t, st.MaxRecordsRead, int64(batchSize), "a reconcile reads at most the batch in flight")
			reconciles += st.Reconciles
			reconciled += st.Reconciled
			read += st.RecordsRead
			published += st.Published
		}
	}
	t.Logf("reconciles %d, rows found published %d, records read %d, published %d", reconciles, reconciled, read, published)
	assert.Positive(t, reconciled, "a batch published but not marked was found by a reconcile")
	assert.LessOrEqual(t, read, reconciles*batchSize)
	// Not equal: a mark whose answer a cut lost is counted by no relay.
	assert.LessOrEqual(t, published+reconciled, int64(len(recs)), "no record counted twice")
}
