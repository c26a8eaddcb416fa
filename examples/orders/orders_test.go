package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/pipeline"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/projection"
	"github.com/bulwarkgo/bulwark/internal/deadletter"
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

// The command itself: flags, progress, summary and exit code, and the
// -listen endpoints, hit while the run is going: an order placed with POST
// /orders goes through the pipeline and shows in the order view, /metrics
// serves bulwark's metrics in Prometheus' text format, /dlt lists the
// poison records and the projection rebuilds from the topics.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	stdout := newWatcher(regexp.MustCompile(`serving http://(\S+)/metrics`))
	var stderr bytes.Buffer
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := run(context.Background(), []string{"-orders", "60", "-rate", "10", "-listen", "127.0.0.1:0"}, stdout, &stderr)
		done <- result{code, err}
	}()
	var base string
	select {
	case addr := <-stdout.match:
		base = "http://" + addr
	case r := <-done:
		t.Fatalf("run ended (exit %d, %v) before serving http:\n%s\n%s", r.code, r.err, stdout.String(), stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("no http endpoint after a minute:\n%s", stdout.String())
	}
	httpID := checkEndpoints(t, base)

	r := <-done
	if r.err != nil || r.code != 0 {
		t.Fatalf("exit %d, err %v\nstdout:\n%s\nstderr:\n%s", r.code, r.err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	// 60 generated orders and the one placed over HTTP.
	if !regexp.MustCompile(`orders placed\s+61\n`).MatchString(out) {
		t.Errorf("output does not say 61 orders were placed:\n%s", out)
	}
	for _, want := range []string{"invariants", "[ok  ] no payment charged twice", "[ok  ] payment asked the gateway about an order again only after a call cut short"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a check failed:\n%s", out)
	}
	if _, err := http.Get(base + "/orders/" + httpID); err == nil {
		t.Error("the endpoint still serves after the run")
	}
	code, _ := run(context.Background(), []string{"-no-such-flag"}, stdout, &stderr)
	if code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
}

// checkEndpoints exercises the HTTP endpoints of a running pipeline and
// returns the ID of the order it placed.
func checkEndpoints(t *testing.T, base string) string {
	t.Helper()
	do := func(method, path, body string, wantStatus int) []byte {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, wantStatus, b)
		}
		return b
	}

	do(http.MethodPost, "/orders", `{"sku": "sku-01", "quantity": 0}`, http.StatusBadRequest)
	var placed events.OrderCreated
	if err := json.Unmarshal(do(http.MethodPost, "/orders", `{"customer_id": "c-http", "sku": "sku-03", "quantity": 1, "amount_cents": 1250}`, http.StatusCreated), &placed); err != nil || placed.OrderID == "" {
		t.Fatalf("POST /orders answered %+v (%v)", placed, err)
	}
	// The order goes through the services and reaches a final state in
	// the view.
	var view projection.Order
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(base + "/orders/" + placed.OrderID)
		if err != nil {
			t.Fatalf("GET /orders/%s: %v", placed.OrderID, err)
		}
		if resp.StatusCode == http.StatusOK {
			err = json.NewDecoder(resp.Body).Decode(&view)
		}
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if projection.Final(view.Status) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s not final in the view after 30s: %+v", placed.OrderID, view)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if view.OrderID != placed.OrderID || view.SKU != "sku-03" || view.Quantity != 1 || view.CustomerID != "c-http" {
		t.Errorf("view of the HTTP order: %+v, placed %+v", view, placed)
	}
	do(http.MethodGet, "/orders/no-such-order", "", http.StatusNotFound)
	var list []projection.Order
	if err := json.Unmarshal(do(http.MethodGet, "/orders?status="+view.Status, "", http.StatusOK), &list); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(list, func(o projection.Order) bool { return o.OrderID == placed.OrderID }) {
		t.Errorf("GET /orders?status=%s lacks %s", view.Status, placed.OrderID)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: %s, %s", resp.Status, ct)
	}
	for _, re := range []string{
		`(?m)^# TYPE messaging_client_consumed_messages_total counter$`,
		`(?m)^messaging_client_consumed_messages_total\{.*\} [1-9]`,
		`(?m)^bulwark_dedup_claims_total\{.*bulwark_dedup_name="payment".*\} [1-9]`,
		`(?m)^bulwark_resilience_breaker_state\{.*bulwark_resilience_name="payment-gateway".*\} `,
	} {
		if !regexp.MustCompile(re).Match(metrics) {
			t.Errorf("/metrics has no line matching %s", re)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}

	// The 2 poison records reach orders.dlt early in the run.
	var dlt []map[string]any
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err := json.Unmarshal(do(http.MethodGet, "/dlt", "", http.StatusOK), &dlt); err != nil {
			t.Fatal(err)
		}
		if len(dlt) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(dlt) != 2 || dlt[0]["source_topic"] != "orders" || dlt[1]["source_topic"] != "orders" {
		t.Errorf("GET /dlt: %v, want the 2 poison records of orders", dlt)
	}
	do(http.MethodPost, "/dlt/replay?topic=orders", "", http.StatusBadRequest) // not a dead-letter topic

	var rebuilt map[string]int
	if err := json.Unmarshal(do(http.MethodPost, "/projection/rebuild", "", http.StatusOK), &rebuilt); err != nil {
		t.Fatal(err)
	}
	if rebuilt["records_replayed"] < 5 { // at least the HTTP order's own events
		t.Errorf("rebuild replayed %v", rebuilt)
	}
	var after projection.Order
	if err := json.Unmarshal(do(http.MethodGet, "/orders/"+placed.OrderID, "", http.StatusOK), &after); err != nil || after.Status != view.Status {
		t.Errorf("after the rebuild the order is %+v (%v), was %q", after, err, view.Status)
	}
	return placed.OrderID
}

// watcher is a progress writer that reports the first match of re.
type watcher struct {
	re    *regexp.Regexp
	match chan string

	mu   sync.Mutex
	b    bytes.Buffer
	sent bool
}

func newWatcher(re *regexp.Regexp) *watcher { return &watcher{re: re, match: make(chan string, 1)} }

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if !w.sent {
		if m := w.re.FindSubmatch(w.b.Bytes()); m != nil {
			w.sent = true
			w.match <- string(m[1])
		}
	}
	return n, err
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A summary with a failed invariant (or none checked) exits 1.
func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		checks []pipeline.Check
		want   int
	}{
		{[]pipeline.Check{{Name: "a", OK: true}, {Name: "b", OK: true}}, 0},
		{[]pipeline.Check{{Name: "a", OK: true}, {Name: "b", OK: false, Detail: "broken"}}, 1},
		{nil, 1},
	} {
		code, err := exitCode(&pipeline.Summary{Checks: tc.checks})
		if code != tc.want || (err == nil) != (tc.want == 0) {
			t.Errorf("checks %+v: exit %d, %v; want %d", tc.checks, code, err, tc.want)
		}
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
	if _, err := p.Send(context.Background(), deadletter.Record(topics.DeadLetter(topics.Orders()), "payment", original, bulwark.Permanentf("cannot decode"), 1)); err != nil {
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
	if listed[0]["source_topic"] != topics.Orders() || listed[0]["error"] == "" || listed[0]["source_offset"] != float64(41) ||
		listed[0]["group"] != "payment" {
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

// Against a real cluster that wants TLS and SCRAM, the command connects
// with its -tls-ca and -sasl-* flags: every service, the topic setup and
// the checks. A wrong password is refused with an error naming SASL, and
// the security flags without -brokers are a usage error.
func TestPipelineOverTLSAndSASL(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(3), kafkatest.WithTLS(),
		kafkatest.WithSASLUser("SCRAM-SHA-256", "orders", "s3cret"))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, c.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"-brokers", strings.Join(c.Brokers(), ","), "-tls-ca", ca,
		"-sasl-mechanism", "SCRAM-SHA-256", "-sasl-user", "orders"}
	t.Setenv("KAFKA_SASL_PASSWORD", "s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := append(slices.Clone(base), "-orders", "30", "-rate", "0", "-poison", "1", "-timeout", "60s")
	if code, err := run(ctx, args, &stdout, &stderr); code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, stdout.String(), stderr.String())
	}
	if !regexp.MustCompile(`orders placed\s+30\n`).MatchString(stdout.String()) {
		t.Fatalf("summary does not show the 30 orders:\n%s", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	wrong := append(slices.Clone(base), "-sasl-password", "wrong", "-orders", "1", "-timeout", "10s")
	code, err := run(ctx, wrong, &stdout, &stderr)
	if code == 0 || err == nil || !strings.Contains(strings.ToLower(err.Error()), "sasl") {
		t.Fatalf("wrong password: exit %d, %v, want an error about SASL", code, err)
	}

	code, err = run(ctx, []string{"-sasl-mechanism", "PLAIN", "-sasl-user", "u"}, &stdout, &stderr)
	if code != 2 || err == nil || !strings.Contains(err.Error(), "-brokers") {
		t.Fatalf("security flags without -brokers: exit %d, %v", code, err)
	}
}
