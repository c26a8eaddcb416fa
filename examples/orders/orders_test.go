package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/examples/orders/internal/pipeline"
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
	if s.DuplicatesSkipped < 10 {
		t.Errorf("dedup skipped %d records, want at least the 10 redelivered ones", s.DuplicatesSkipped)
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
