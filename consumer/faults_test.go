package consumer

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
	"github.com/bulwarkgo/bulwark/internal/logtest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestFaultMatrix proves the consumer's cells of the fault matrix (issue
// 17): each fault ends within its bound, with the outcome stated, and no
// record is lost, dead-lettered for a dependency fault or handled twice.
func TestFaultMatrix(t *testing.T) {
	for _, tc := range []struct {
		cell faultmatrix.Cell
		run  func(t *testing.T)
	}{
		{faultmatrix.Cell{Fault: "missing input or retry topic", Component: "consumer",
			Bound: "Run returns within 10 s", Outcome: "ErrUnknownTopic naming the topic", Records: "-"}, faultMissingTopic},
		{faultmatrix.Cell{Fault: "missing input topic, WithWaitForTopics", Component: "consumer",
			Bound: "wait visible within 10 s; consuming within 20 s of the create", Outcome: "Stats.MissingTopics, topics.missing gauge, WARN; then progress",
			Records: "0 lost, each handled once"}, faultWaitForTopic},
		{faultmatrix.Cell{Fault: "empty or invalid topic name", Component: "consumer",
			Bound: "New returns at once", Outcome: "ErrInvalidConfig naming the topic", Records: "-"}, faultBadTopicName},
		{faultmatrix.Cell{Fault: "missing DLT", Component: "consumer",
			Bound: "blocked visible within 10 s; done within 30 s of the create", Outcome: "partition paused: Stats.BlockedOn, partitions.blocked gauge, writes.failed, WARN; resumed",
			Records: "0 lost, 1 dead letter (the poison record), handler once per record"}, faultMissingDLT},
		{faultmatrix.Cell{Fault: "DLT writes failing", Component: "consumer",
			Bound: "blocked visible within 10 s; done within 30 s of the repair", Outcome: "partition paused (Stats.BlockedOn), resumed by itself",
			Records: "0 lost, 1 dead letter (the poison record), handler once per record"}, faultDLTWritesFailing},
		{faultmatrix.Cell{Fault: "retry-topic writes failing", Component: "consumer",
			Bound: "blocked visible within 10 s; done within 30 s of the repair", Outcome: "partition paused (Stats.BlockedOn), resumed by itself; WithRetry(1)",
			Records: "0 lost, 0 dead-lettered, handler not re-run by a failed write"}, faultRetryTopicWritesFailing},
		{faultmatrix.Cell{Fault: "dependency down 2 s (pause-class handler error)", Component: "consumer",
			Bound: "resumes within 15 s of the repair", Outcome: "partition paused (Stats.Paused, WARN), delay growing, resumed by itself",
			Records: "0 lost, 0 dead-lettered, side effects once"}, faultDependencyDown},
		{faultmatrix.Cell{Fault: "default logger (no WithLogger)", Component: "consumer",
			Bound: "WARN within 10 s", Outcome: "WARN+ reaches slog.Default(), INFO does not", Records: "-"}, faultDefaultLogger},
	} {
		t.Run(tc.cell.Fault, func(t *testing.T) {
			faultmatrix.Report(t, tc.cell)
			tc.run(t)
		})
	}
}

func faultMissingTopic(t *testing.T) {
	cl := newCluster(t, map[string]int32{"present": 1})
	c, err := New(cl.Brokers(), "g-missing", []string{"present", "ghost"}, newRecorder(nil), fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = c.Run(ctx)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Run took %v, want within 10s", took)
	}
	if !errors.Is(err, ErrUnknownTopic) || !strings.Contains(err.Error(), "ghost") || strings.Contains(err.Error(), "present") {
		t.Fatalf("Run = %v, want ErrUnknownTopic naming ghost only", err)
	}
	// A retry topic is subscribed too: missing, it fails Run the same way.
	c, err = New(cl.Brokers(), "g-missing-retry", []string{"present"}, newRecorder(nil), fastOpts(cl, WithRetryTopics(time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	err = c.Run(ctx)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Run took %v, want within 10s", took)
	}
	if !errors.Is(err, ErrUnknownTopic) || !strings.Contains(err.Error(), "present.retry.1") {
		t.Fatalf("Run = %v, want ErrUnknownTopic naming present.retry.1", err)
	}
}

func faultWaitForTopic(t *testing.T) {
	cl := newCluster(t, map[string]int32{"present": 1})
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	logs := &logtest.Buffer{}
	rec := newRecorder(nil)
	c, err := New(cl.Brokers(), "g-wait", []string{"late"}, rec,
		fastOpts(cl, WithWaitForTopics(), WithMeterProvider(mp), WithLogger(logs.Logger(slog.LevelInfo)))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the wait in Stats", func() bool { return slices.Equal(c.Stats().MissingTopics, []string{"late"}) })
	if got := gaugeOf(t, collect(t, reader), MetricTopicsMissing); got != 1 {
		t.Fatalf("topics.missing gauge %d, want 1", got)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"waiting for topics to be created\" group=g-wait topics=late") {
		t.Fatalf("no WARN naming the missing topic; log:\n%s", logs)
	}
	if err := cl.CreateTopic(context.Background(), "late", 1, nil); err != nil {
		t.Fatal(err)
	}
	produce(t, cl, "late", 10, nil)
	waitFor(t, 20*time.Second, "all 10 committed", func() bool { return committed(t, cl, "g-wait", "late")[0] == 10 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(c.Stats().MissingTopics) != 0 {
		t.Fatal("Stats still lists a missing topic")
	}
	assertHandledOnce(t, rec, 10)
}

func faultBadTopicName(t *testing.T) {
	h := newRecorder(nil)
	for _, tc := range []struct {
		topics []string
		opts   []Option
		want   string
	}{
		{[]string{""}, nil, "empty topic name"},
		{[]string{"ok", "has space"}, nil, `"has space"`},
		{[]string{strings.Repeat("x", 250)}, nil, "249"},
		{[]string{"ok"}, []Option{WithDeadLetterTopic(func(string) string { return "" })}, "dead-letter topic"},
		{[]string{strings.Repeat("x", 245)}, []Option{WithRetryTopics(time.Second)}, "retry topic"},
	} {
		start := time.Now()
		_, err := New([]string{"127.0.0.1:1"}, "g", tc.topics, h, tc.opts...)
		if time.Since(start) > time.Second {
			t.Fatalf("New(%q) took %v", tc.topics, time.Since(start))
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("New(%.20q...) = %v, want ErrInvalidConfig mentioning %s", tc.topics, err, tc.want)
		}
	}
}

// poisonV4 fails record v4 permanently and counts handler calls.
func poisonV4() *recorder {
	return newRecorder(func(_ context.Context, msg *bulwark.Message) error {
		if string(msg.Value) == "v4" {
			return bulwark.Permanentf("poison")
		}
		return nil
	})
}

func faultMissingDLT(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1})
	produce(t, cl, "in", 10, nil)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	logs := &logtest.Buffer{}
	rec := poisonV4()
	c, err := New(cl.Brokers(), "g-nodlt", []string{"in"}, rec,
		fastOpts(cl, WithMeterProvider(mp), WithLogger(logs.Logger(slog.LevelInfo)))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitBlocked(t, c, "in.dlt")
	rm := collect(t, reader)
	if got := gaugeOf(t, rm, MetricPartitionsBlocked); got != 1 {
		t.Fatalf("partitions.blocked gauge %d, want 1", got)
	}
	if got := sumOf(t, rm, MetricWritesFailed); got < 1 {
		t.Fatalf("writes.failed %d, want at least 1", got)
	}
	for _, want := range []string{"dead-letter topic missing", "level=WARN msg=\"write failed; the partition waits"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	if got := committed(t, cl, "g-nodlt", "in")[0]; got > 4 {
		t.Fatalf("committed %d past the record whose dead letter is not written", got)
	}
	if err := cl.CreateTopic(context.Background(), "in.dlt", 1, nil); err != nil {
		t.Fatal(err)
	}
	waitDone(t, cl, c, "g-nodlt", "in", 10)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	assertHandledOnce(t, rec, 10)
	assertDeadLetters(t, cl, "in.dlt", "v4")
}

func faultDLTWritesFailing(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1, "in.dlt": 1})
	produce(t, cl, "in", 10, nil)
	fault := cl.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: "in.dlt", Count: -1})
	defer fault.Remove()
	rec := poisonV4()
	c, err := New(cl.Brokers(), "g-dltdown", []string{"in"}, rec, fastOpts(cl, WithRetry(1, time.Millisecond, time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	outageThenRepair(t, cl, c, fault, "in.dlt", "g-dltdown", "in")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	assertHandledOnce(t, rec, 10)
	assertDeadLetters(t, cl, "in.dlt", "v4")
	if st := c.Stats(); st.DeadLettered != 1 {
		t.Fatalf("Stats.DeadLettered %d, want 1", st.DeadLettered)
	}
}

func faultRetryTopicWritesFailing(t *testing.T) {
	cl := newCluster(t, map[string]int32{"pay": 1, "pay.retry.1": 1, "pay.dlt": 1})
	produce(t, cl, "pay", 10, nil)
	fault := cl.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: "pay.retry.1", Count: -1})
	defer fault.Remove()
	var mu sync.Mutex
	calls := map[string][]string{} // value -> topics it was handled from
	h := bulwark.HandlerFunc(func(_ context.Context, msg *bulwark.Message) error {
		mu.Lock()
		calls[string(msg.Value)] = append(calls[string(msg.Value)], msg.Topic)
		n := len(calls[string(msg.Value)])
		mu.Unlock()
		if string(msg.Value) == "v3" && n == 1 {
			return errors.New("downstream hiccup") // retryable: moves to pay.retry.1
		}
		return nil
	})
	// WithRetry(1): what the WithRetryTopics doc recommends, so a failed
	// write must not count as the record's attempt.
	c, err := New(cl.Brokers(), "g-retrydown", []string{"pay"}, h,
		fastOpts(cl, WithRetry(1, time.Millisecond, time.Millisecond), WithRetryTopics(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	outageThenRepair(t, cl, c, fault, "pay.retry.1", "g-retrydown", "pay")
	waitFor(t, 30*time.Second, "the retry topic consumed", func() bool {
		return committed(t, cl, "g-retrydown", "pay.retry.1")[0] >= 1 && len(handledFrom(&mu, calls, "v3")) == 2
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range 10 {
		v := "v" + string(rune('0'+i))
		want := []string{"pay"}
		if v == "v3" {
			want = []string{"pay", "pay"} // first try, then from the retry topic (seen as first consumed)
		}
		if !slices.Equal(calls[v], want) {
			t.Fatalf("%s handled from %v, want %v: a failed write must not run the handler again", v, calls[v], want)
		}
	}
	assertDeadLetters(t, cl, "pay.dlt")
	if st := c.Stats(); st.DeadLettered != 0 || st.Retried != 1 {
		t.Fatalf("Stats: dead-lettered %d, moved to retry topics %d; want 0 and 1", st.DeadLettered, st.Retried)
	}
}

func handledFrom(mu *sync.Mutex, calls map[string][]string, v string) []string {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(calls[v])
}

func faultDependencyDown(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1, "in.dlt": 1})
	produce(t, cl, "in", 10, nil)
	var down atomic.Bool
	down.Store(true)
	var probes atomic.Int32
	var effects sync.Map // value -> *atomic.Int32, side effects that ran
	h := bulwark.HandlerFunc(func(_ context.Context, msg *bulwark.Message) error {
		if down.Load() {
			probes.Add(1)
			return bulwark.Pause(errors.New("redis: connection refused"), 0)
		}
		n, _ := effects.LoadOrStore(string(msg.Value), new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		return nil
	})
	logs := &logtest.Buffer{}
	c, err := New(cl.Brokers(), "g-depdown", []string{"in"}, h,
		fastOpts(cl, WithPauseDelay(100*time.Millisecond), WithMaxPauseDelay(time.Second), WithLogger(logs.Logger(slog.LevelWarn)))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the partition paused", func() bool {
		st := c.Stats()
		return len(st.Partitions) == 1 && st.Partitions[0].Paused && probes.Load() >= 1
	})
	outage := time.Now()
	time.Sleep(2 * time.Second) // the outage itself, not an ordering wait
	// A fixed 100 ms pause would probe about 20 times in 2 s; a growing
	// one (100, 200, 400, 800 ms, then 1 s) about 6.
	if n := probes.Load(); n > 12 {
		t.Fatalf("%d probes in the 2 s outage: the pause delay does not grow", n)
	}
	down.Store(false)
	waitFor(t, 15*time.Second, "resumed and all committed", func() bool { return committed(t, cl, "g-depdown", "in")[0] == 10 })
	t.Logf("resumed %v after the outage began, %d probes", time.Since(outage), probes.Load())
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		v := "v" + string(rune('0'+i))
		n, ok := effects.Load(v)
		if !ok || n.(*atomic.Int32).Load() != 1 {
			t.Fatalf("side effect of %s ran %v times, want once", v, n)
		}
	}
	for _, want := range []string{`level=WARN msg="partition paused by handler"`, `level=WARN msg="partition resumed"`} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %s:\n%s", want, logs)
		}
	}
	assertDeadLetters(t, cl, "in.dlt")
	if st := c.Stats(); st.DeadLettered != 0 || st.Failed != 0 {
		t.Fatalf("Stats: dead-lettered %d, failed %d; want 0 and 0", st.DeadLettered, st.Failed)
	}
}

// Not parallel: it replaces the process's default logger for a moment.
func faultDefaultLogger(t *testing.T) {
	logs := &logtest.Buffer{}
	old := slog.Default()
	slog.SetDefault(logs.Logger(slog.LevelDebug))
	t.Cleanup(func() { slog.SetDefault(old) })
	cl := newCluster(t, map[string]int32{"present": 1})
	opts := []Option{WithConnection(cl.ConnOptions()...), WithWaitForTopics(),
		WithSessionTimeout(6 * time.Second), WithHeartbeatInterval(500 * time.Millisecond)}
	c, err := New(cl.Brokers(), "g-deflog", []string{"ghost"}, newRecorder(nil), opts...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the WARN on slog.Default()", func() bool {
		return strings.Contains(logs.String(), "level=WARN msg=\"waiting for topics to be created\"")
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "level=INFO") || strings.Contains(logs.String(), "level=DEBUG") {
		t.Fatalf("below-WARN lines reached the default logger:\n%s", logs)
	}
}

// outageThenRepair waits for the partition to block on writes to blocked
// (failing twice), removes the fault and waits for all 10 records of
// topic to be committed.
func outageThenRepair(t *testing.T, cl *kafkatest.Cluster, c *Consumer, fault *kafkatest.FaultHandle, blocked, group, topic string) {
	t.Helper()
	waitBlocked(t, c, blocked)
	waitFor(t, 10*time.Second, "a second failed write", func() bool { return c.Stats().WriteFailures >= 2 })
	fault.Remove()
	waitDone(t, cl, c, group, topic, 10)
}

// waitBlocked waits for the partition to show it is blocked on topic.
func waitBlocked(t *testing.T, c *Consumer, topic string) {
	t.Helper()
	waitFor(t, 10*time.Second, "the partition blocked on "+topic, func() bool {
		st := c.Stats()
		return len(st.Partitions) > 0 && st.Partitions[0].BlockedOn == topic && st.Partitions[0].BlockedErr != nil &&
			st.Partitions[0].Paused && st.WriteFailures >= 1
	})
}

// waitDone waits for all n records of topic to be committed and the
// partition to be unblocked.
func waitDone(t *testing.T, cl *kafkatest.Cluster, c *Consumer, group, topic string, n int64) {
	t.Helper()
	waitFor(t, 30*time.Second, "all committed and unblocked", func() bool {
		st := c.Stats()
		for _, p := range st.Partitions {
			if p.BlockedOn != "" {
				return false
			}
		}
		return committed(t, cl, group, topic)[0] == n
	})
}

func assertHandledOnce(t *testing.T, rec *recorder, n int) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != n {
		t.Fatalf("%d distinct records handled, want %d", len(rec.seen), n)
	}
	for v, k := range rec.seen {
		if k != 1 {
			t.Fatalf("%s handled %d times, want once", v, k)
		}
	}
}

// assertDeadLetters checks the dead-letter topic holds exactly values.
func assertDeadLetters(t *testing.T, cl *kafkatest.Cluster, topic string, values ...string) {
	t.Helper()
	dls, err := cl.ReadTopic(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range dls {
		got = append(got, string(m.Value))
	}
	if !slices.Equal(got, values) {
		t.Fatalf("dead letters %v, want %v", got, values)
	}
}

func collect(t *testing.T, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}
