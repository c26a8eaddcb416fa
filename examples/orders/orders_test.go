package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/events"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/pipeline"
	"github.com/bulwarkgo/bulwark/internal/deadletter"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
)

// The pipeline end to end on the embedded cluster: every invariant is
// checked by pipeline.Run against what the topics and the payment gateway
// hold after the run, not against the services' own counters.
func TestPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	s, err := pipeline.Run(ctx, pipeline.Config{Orders: 80, Rate: 0, Poison: 2, StockPerSKU: 25, DeclinePercent: 20, Progress: &out})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s.Print(&out)
	t.Log(out.String())
	requireInvariants(t, s)
	if s.Placed != 80 {
		t.Errorf("placed %d orders, want 80", s.Placed)
	}
	// With 8 SKUs of 25 units and 80 orders of 1-5 units, stock runs out:
	// both branches of the inventory and of the payment are taken.
	if s.Rejected == 0 || s.Shipped == 0 || s.Compensated == 0 {
		t.Errorf("want rejected, shipped and compensated orders, got %d, %d, %d", s.Rejected, s.Shipped, s.Compensated)
	}
	if s.DeadLettered != 2 {
		t.Errorf("dead-lettered %d records, want the 2 poison records", s.DeadLettered)
	}
}

// The same under chaos: broker faults, every service crashed once,
// a gateway outage and redelivered reservations.
func TestPipelineChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	s, err := pipeline.Run(ctx, pipeline.Config{Orders: 120, Rate: 40, Poison: 1, Chaos: true, Progress: &out})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s.Print(&out)
	t.Log(out.String())
	requireInvariants(t, s)
	if s.Crashes < 4 {
		t.Errorf("%d service crashes, want 4 (the chaos script did not run through)", s.Crashes)
	}
	if s.BreakerOpenings == 0 {
		t.Error("the gateway outage never opened the breaker")
	}
	if n := s.Skipped("payment"); n < 10 {
		t.Errorf("payment's dedup skipped %d records, want at least the 10 redelivered ones", n)
	}
}

func requireInvariants(t *testing.T, s *pipeline.Summary) {
	t.Helper()
	if len(s.Checks) < 7 {
		t.Fatalf("only %d invariants checked", len(s.Checks))
	}
	for _, c := range s.Checks {
		if !c.OK {
			t.Errorf("invariant failed: %s: %s", c.Name, c.Detail)
		}
	}
	finals := s.Rejected + s.Shipped + s.Compensated + s.ParkedOrders
	if finals != s.Placed {
		t.Errorf("final states %d (rejected %d + shipped %d + compensated %d + parked %d) != placed %d",
			finals, s.Rejected, s.Shipped, s.Compensated, s.ParkedOrders, s.Placed)
	}
}

// The command itself: flags, progress, summary and exit code.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	var stdout, stderr bytes.Buffer
	code, err := run(context.Background(), []string{"-orders", "20", "-rate", "0", "-listen", "127.0.0.1:0"}, &stdout, &stderr)
	if err != nil || code != 0 {
		t.Fatalf("exit %d, err %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout.String(), stderr.String())
	}
	if !regexp.MustCompile(`orders placed\s+20\n`).MatchString(stdout.String()) {
		t.Errorf("output does not say 20 orders were placed:\n%s", stdout.String())
	}
	for _, want := range []string{"invariants", "[ok  ] no payment charged twice"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "FAIL") {
		t.Errorf("a check failed:\n%s", stdout.String())
	}
	code, _ = run(context.Background(), []string{"-no-such-flag"}, &stdout, &stderr)
	if code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
}

// The PostgreSQL and Redis options under chaos: orders placed through the
// transactional outbox (its relay crashed mid-batch), the view kept in
// PostgreSQL, dedup in Redis. The same invariants hold, plus the outbox
// and the PostgreSQL view checks.
func TestPipelineWithPostgresAndRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	dsn, redisAddr := servicetest.PostgresDSN(t), servicetest.RedisAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	s, err := pipeline.Run(ctx, pipeline.Config{Orders: 100, Rate: 40, Poison: 1, Chaos: true, Progress: &out,
		Outbox: true, View: "postgres", Dedup: "redis", PostgresDSN: dsn, RedisAddr: redisAddr})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s.Print(&out)
	t.Log(out.String())
	requireInvariants(t, s)
	names := map[string]bool{}
	for _, c := range s.Checks {
		names[c.Name] = true
	}
	for _, want := range []string{"PostgreSQL view equals the live view", "outbox: every order row written and every event relayed"} {
		if !names[want] {
			t.Errorf("check %q did not run", want)
		}
	}
	if s.OutboxRelayed+s.OutboxReconciled < int64(s.Placed) {
		t.Errorf("outbox relayed %d + reconciled %d < %d placed", s.OutboxRelayed, s.OutboxReconciled, s.Placed)
	}
	if !strings.Contains(out.String(), "outbox relay crashed") {
		t.Error("the chaos script did not crash the outbox relay")
	}
	if n := s.Skipped("payment"); n < 10 {
		t.Errorf("payment's redis dedup skipped %d records, want at least the 10 redelivered ones", n)
	}
}

// -replay-dlt lists the dead-letter topics and sends one topic's records
// back to their source, as they were before they failed.
func TestReplayDeadLetters(t *testing.T) {
	topics := events.Topics{Prefix: "replay."}
	opts := []kafkatest.Option{kafkatest.WithTopic(topics.Orders(), 1)}
	for _, in := range topics.Inputs() {
		opts = append(opts, kafkatest.WithTopic(topics.DeadLetter(in), 1))
	}
	c := kafkatest.NewCluster(t, opts...)
	original := &bulwark.Message{Topic: topics.Orders(), Partition: 0, Offset: 41, Key: []byte("ord-1"), Value: []byte{0xff, 0x00},
		Headers: []bulwark.Header{{Key: bulwark.HeaderMessageID, Value: []byte("order-created/ord-1")}}}
	p, err := producer.New(c.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(context.Background(), deadletter.Record(topics.DeadLetter(topics.Orders()), original, bulwark.Permanentf("cannot decode"), 1)); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()

	var stdout, stderr bytes.Buffer
	args := []string{"-brokers", strings.Join(c.Brokers(), ","), "-topic-prefix", "replay.", "-replay-dlt", "list"}
	if code, err := run(context.Background(), args, &stdout, &stderr); code != 0 || err != nil {
		t.Fatalf("list: exit %d, %v\n%s", code, err, stderr.String())
	}
	var listed []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("list printed %d records (%v):\n%s", len(listed), err, stdout.String())
	}
	if listed[0]["source_topic"] != topics.Orders() || listed[0]["error"] == "" || listed[0]["source_offset"] != float64(41) {
		t.Fatalf("listed %v", listed[0])
	}

	stdout.Reset()
	args[len(args)-1] = topics.DeadLetter(topics.Orders())
	if code, err := run(context.Background(), args, &stdout, &stderr); code != 0 || err != nil {
		t.Fatalf("replay: exit %d, %v\n%s", code, err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "replayed 1 records of replay.orders.dlt") {
		t.Fatalf("replay output:\n%s", stdout.String())
	}
	back, err := c.ReadTopic(context.Background(), topics.Orders())
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || string(back[0].Key) != "ord-1" || !bytes.Equal(back[0].Value, original.Value) {
		t.Fatalf("orders topic after replay: %v", back)
	}
	if id, _ := back[0].Header(bulwark.HeaderMessageID); string(id) != "order-created/ord-1" {
		t.Fatalf("replayed record lost its message ID: %v", back[0].Headers)
	}
	if _, ok := back[0].Header(bulwark.HeaderDLTError); ok {
		t.Fatal("replayed record still carries the dead-letter headers")
	}
}
