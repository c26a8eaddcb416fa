package resilience_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer"
	"github.com/bulwarkgo/bulwark/internal/cputime"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/resilience"
	"github.com/twmb/franz-go/pkg/kgo"
)

// flakyDownstream is an HTTP dependency that is down (503) until told
// otherwise, then fails every fourth request (500).
type flakyDownstream struct {
	srv      *httptest.Server
	down     atomic.Bool
	requests atomic.Int64
	failures atomic.Int64
}

func newFlakyDownstream(t *testing.T) *flakyDownstream {
	d := &flakyDownstream{}
	d.down.Store(true)
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := d.requests.Add(1)
		switch {
		case d.down.Load():
			d.failures.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		case n%4 == 0:
			d.failures.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(func() {
		d.srv.Client().CloseIdleConnections()
		d.srv.Close()
	})
	return d
}

// call makes one request; 5xx is a retryable error, 4xx a permanent one.
func (d *flakyDownstream) call(ctx context.Context, key []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.srv.URL+"/charge?key="+string(key), nil)
	if err != nil {
		return bulwark.Permanent(err)
	}
	resp, err := d.srv.Client().Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return fmt.Errorf("downstream: %s", resp.Status)
	case resp.StatusCode >= 400:
		return bulwark.Permanentf("downstream: %s", resp.Status)
	}
	return nil
}

func produceOrders(t *testing.T, c *kafkatest.Cluster, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte("order-" + strconv.Itoa(i)), Value: []byte("{}")}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// A fault matrix cell (faults_test.go): a consumer whose handler calls a
// downstream that is down for a few seconds, then fails a share of calls. The breaker opens,
// the consumer pauses the partitions instead of burning records, the
// process idles, and when the downstream is back every record is processed
// and none is dead-lettered.
func testConsumerPausesWhileBreakerIsOpen(t *testing.T) {
	const (
		topic   = "orders"
		group   = "payments"
		records = 60
		outage  = 3 * time.Second
	)
	cluster := kafkatest.NewCluster(t, kafkatest.WithBrokers(1),
		kafkatest.WithTopic(topic, 2), kafkatest.WithTopic(topic+".dlt", 1))
	produceOrders(t, cluster, topic, records)
	downstream := newFlakyDownstream(t)
	m := newMetrics(t)

	breaker := newBreaker(t, resilience.WithName("payments-api"), resilience.WithMeterProvider(m.provider),
		resilience.WithConsecutiveFailures(3), resilience.WithOpenDelay(500*time.Millisecond))
	retry := newRetry(t, resilience.WithMaxAttempts(3), resilience.WithBackoff(5*time.Millisecond, 50*time.Millisecond, 2),
		resilience.WithMeterProvider(m.provider))
	timeout := newTimeout(t, 2*time.Second)

	var mu sync.Mutex
	processed := map[string]int{}
	handler := bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		if err := downstream.call(ctx, msg.Key); err != nil {
			return err
		}
		mu.Lock()
		processed[string(msg.Key)]++
		mu.Unlock()
		return nil
	})
	done := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(processed)
	}

	c, err := consumer.New(cluster.Brokers(), group, []string{topic}, handler,
		consumer.WithConnection(cluster.ConnOptions()...),
		consumer.WithMiddleware(resilience.Chain(retry, breaker, timeout)),
		consumer.WithRetry(5, 20*time.Millisecond, 200*time.Millisecond),
		consumer.WithCommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx) }()

	// The first failures open the breaker.
	waitFor(t, 30*time.Second, "the breaker to open", func() bool { return breaker.State() == resilience.BreakerOpen })

	// The outage: watch the partitions and the process's CPU time.
	if !cputime.Supported {
		t.Skip("process CPU time is read with getrusage, which this OS lacks")
	}
	wall0, cpu0 := time.Now(), cputime.Process()
	requests0 := downstream.requests.Load()
	sawPaused := false
	for time.Since(wall0) < outage {
		for _, p := range c.Stats().Partitions {
			sawPaused = sawPaused || p.Paused
		}
		time.Sleep(50 * time.Millisecond)
	}
	wall, cpu := time.Since(wall0), cputime.Process()-cpu0
	requests := downstream.requests.Load() - requests0
	committed, err := cluster.CommittedOffsets(context.Background(), group, topic)
	if err != nil {
		t.Fatal(err)
	}
	if done() != 0 {
		t.Fatalf("%d records processed while the downstream was down", done())
	}
	downstream.down.Store(false)
	failuresBefore := downstream.failures.Load()

	waitFor(t, 60*time.Second, "every record to be processed", func() bool { return done() == records })
	stats := c.Stats()
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}

	t.Logf("outage %s: CPU %s (%.1f%% of one core), %d downstream requests; consumer stats: paused %d, retried %d, failed %d, dead-lettered %d; downstream failures %d",
		wall.Round(time.Millisecond), cpu.Round(time.Millisecond), 100*cpu.Seconds()/wall.Seconds(), requests,
		stats.Paused, stats.Retried, stats.Failed, stats.DeadLettered, downstream.failures.Load())

	if !sawPaused {
		t.Error("no partition was ever seen paused while the breaker was open")
	}
	if stats.Paused == 0 {
		t.Error("consumer Stats.Paused = 0: no pause was requested")
	}
	for p, off := range committed {
		if off != 0 {
			t.Errorf("partition %d committed offset %d during the outage, with nothing processed", p, off)
		}
	}
	// Probes only: one every open delay, each retried at most 3 times.
	if max := int64(3 * (outage/(500*time.Millisecond) + 2)); requests > max {
		t.Errorf("%d downstream requests during a %s outage, want at most %d (probes only)", requests, outage, max)
	}
	if cpu > wall/4 {
		t.Errorf("CPU time %s during a %s outage, over 25%% of one core: busy loop?", cpu, wall)
	}
	if stats.DeadLettered != 0 {
		t.Errorf("%d records dead-lettered", stats.DeadLettered)
	}
	dlt, err := cluster.ReadTopic(context.Background(), topic+".dlt")
	if err != nil {
		t.Fatal(err)
	}
	if len(dlt) != 0 {
		t.Errorf("%d records on the dead-letter topic, first: %s", len(dlt), dlt[0].Headers)
	}
	if flaky := downstream.failures.Load() - failuresBefore; flaky < records/4 {
		t.Errorf("downstream failed %d calls after the outage, want at least %d: the flaky phase was not exercised", flaky, records/4)
	}
	if got := breaker.State(); got != resilience.BreakerClosed {
		t.Errorf("breaker %v after recovery, want closed", got)
	}
	if v, _ := m.value(t, resilience.MetricRejections, nameAttr.String("payments-api")); v == 0 {
		t.Error("no breaker rejection counted")
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A full bulkhead slows the consumer down instead of failing records: with
// 4 partitions of 50 key-ordering workers, up to 200 records are in flight,
// but never more than the bulkhead's 8 run the handler at once; the rest
// are paused and tried again, none dead-lettered.
func TestConsumerBackpressureFromAFullBulkhead(t *testing.T) {
	const (
		topic   = "events"
		group   = "projector"
		records = 400
		limit   = 8
	)
	cluster := kafkatest.NewCluster(t, kafkatest.WithBrokers(1),
		kafkatest.WithTopic(topic, 4), kafkatest.WithTopic(topic+".dlt", 1))
	produceOrders(t, cluster, topic, records)
	m := newMetrics(t)
	bh := newBulkhead(t, limit, resilience.WithMaxWait(5*time.Millisecond),
		resilience.WithPauseDelay(20*time.Millisecond), resilience.WithName("db"),
		resilience.WithMeterProvider(m.provider))

	var g gauge
	var mu sync.Mutex
	processed := map[string]int{}
	handler := bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		g.enter()
		defer g.leave()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		processed[string(msg.Key)]++
		mu.Unlock()
		return nil
	})
	done := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(processed)
	}
	c, err := consumer.New(cluster.Brokers(), group, []string{topic}, handler,
		consumer.WithConnection(cluster.ConnOptions()...),
		consumer.WithMiddleware(bh.Middleware()),
		consumer.WithKeyOrdering(50),
		consumer.WithRetry(2, 10*time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx) }()
	waitFor(t, 60*time.Second, "every record to be processed", func() bool { return done() == records })
	stats := c.Stats()
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	rejections, _ := m.value(t, resilience.MetricRejections, nameAttr.String("db"))
	t.Logf("peak handler concurrency %d (limit %d), peak in-flight records %d, bulkhead rejections %v, consumer pauses %d, dead-lettered %d",
		g.peak.Load(), limit, stats.PeakInFlightRecords, rejections, stats.Paused, stats.DeadLettered)

	if peak := g.peak.Load(); peak > limit {
		t.Fatalf("%d handler calls ran at once, bulkhead limit %d", peak, limit)
	}
	if stats.PeakInFlightRecords <= limit {
		t.Errorf("peak in-flight records %d: the consumer never offered the bulkhead more than it holds", stats.PeakInFlightRecords)
	}
	if rejections == 0 || stats.Paused == 0 {
		t.Errorf("bulkhead rejections %v, consumer pauses %d: the bulkhead never pushed back", rejections, stats.Paused)
	}
	if stats.DeadLettered != 0 {
		t.Errorf("%d records dead-lettered because of a full bulkhead", stats.DeadLettered)
	}
	dlt, err := cluster.ReadTopic(context.Background(), topic+".dlt")
	if err != nil {
		t.Fatal(err)
	}
	if len(dlt) != 0 {
		t.Errorf("%d records on the dead-letter topic", len(dlt))
	}
}
