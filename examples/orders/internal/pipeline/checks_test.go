package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/examples/orders/gateway"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/payment"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/projection"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/telemetry"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
)

// The checks must fail on the violations they are there to catch.
func TestChecksCatchViolations(t *testing.T) {
	ctx := context.Background()
	codec := events.JSON{}
	tp := events.Topics{}
	rec := func(topic, key string, v any) *bulwark.Message {
		b, err := codec.Encode(ctx, topic, v)
		if err != nil {
			t.Fatal(err)
		}
		return &bulwark.Message{Topic: topic, Key: []byte(key), Value: b}
	}
	placed := []events.OrderCreated{
		{OrderID: "a", SKU: "s", Quantity: 2}, // shipped, but charged twice
		{OrderID: "b", SKU: "s", Quantity: 1}, // reserved, never finished
	}
	recs := map[string][]*bulwark.Message{
		tp.Orders():            {rec(tp.Orders(), "a", placed[0]), rec(tp.Orders(), "b", placed[1])},
		tp.Reserved():          {rec(tp.Reserved(), "a", events.InventoryReserved{OrderID: "a"}), rec(tp.Reserved(), "b", events.InventoryReserved{OrderID: "b"})},
		tp.PaymentCompleted():  {rec(tp.PaymentCompleted(), "a", events.PaymentCompleted{OrderID: "a"})},
		tp.ShippingScheduled(): {rec(tp.ShippingScheduled(), "a", events.ShippingScheduled{OrderID: "a"})},
		// Stock says 9 available, but 10 - 2 - 1 held = 7.
		tp.Stock(): {rec(tp.Stock(), events.StockKeySKU("s"), events.StockRecord{SKU: "s", Initial: 10, Available: 9})},
	}
	s := &Summary{}
	err := check(ctx, checkInputs{topics: tp, codec: codec, placed: placed, initial: map[string]int64{"s": 10},
		gateway: gateway.Counts{Charges: map[string]int{"a": 2}}, live: map[string]string{"a": "shipped", "b": "reserved"},
		replayed: projection.NewView()}, recs, s)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly these fail: the order that never finished, the stock, the
	// double charge and the projection; the others hold.
	wantFailed := []string{
		"every order reaches exactly one final state",
		"stock is conserved (initial = available + held by reserved, unreleased orders)",
		"no payment charged twice (gateway's own count), every charge completed",
		"live projection equals a replay of the topics",
	}
	var failed []string
	for _, c := range s.Checks {
		if !c.OK {
			failed = append(failed, c.Name)
		}
	}
	if !slices.Equal(failed, wantFailed) {
		t.Errorf("failed checks %q, want %q; checks: %+v", failed, wantFailed, s.Checks)
	}
	if s.OK() {
		t.Error("summary OK with violations")
	}
}

// checkNamed returns the outcome of the check called name.
func checkNamed(t *testing.T, s *Summary, name string) Check {
	t.Helper()
	for _, c := range s.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, s.Checks)
	return Check{}
}

const (
	checkCharged  = "no payment charged twice (gateway's own count), every charge completed"
	checkAskAgain = "payment asked the gateway about an order again only after a call cut short"
)

// A gateway that charges a repeated request again (here: requests without
// an idempotency key, which the gateway cannot tell apart) fails the
// charge check, whatever payment's dedup did.
func TestCheckCatchesDoubleCharge(t *testing.T) {
	ctx := context.Background()
	gw, err := gateway.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	for range 2 {
		body, _ := json.Marshal(gateway.Charge{OrderID: "a", AmountCents: 100})
		resp, err := http.Post(gw.URL()+"/charges", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	codec, tp := events.JSON{}, events.Topics{}
	enc := func(topic string, v any) *bulwark.Message {
		b, err := codec.Encode(ctx, topic, v)
		if err != nil {
			t.Fatal(err)
		}
		return &bulwark.Message{Topic: topic, Key: []byte("a"), Value: b}
	}
	recs := map[string][]*bulwark.Message{
		tp.Reserved():         {enc(tp.Reserved(), events.InventoryReserved{OrderID: "a"})},
		tp.PaymentCompleted(): {enc(tp.PaymentCompleted(), events.PaymentCompleted{OrderID: "a"})},
	}
	s := &Summary{}
	// The first call was cut short, so asking again was legitimate: only
	// the second charge is wrong.
	if err := check(ctx, checkInputs{topics: tp, codec: codec, placed: []events.OrderCreated{{OrderID: "a"}},
		gateway: gw.Counts(), unfinished: map[string]int{"a": 1}, replayed: projection.NewView()}, recs, s); err != nil {
		t.Fatal(err)
	}
	if c := checkNamed(t, s, checkCharged); c.OK || !strings.Contains(c.Detail, "a charged 2 times") {
		t.Errorf("charge check: %+v, want it to fail on a charged 2 times", c)
	}
	if c := checkNamed(t, s, checkAskAgain); !c.OK {
		t.Errorf("ask-again check failed after an unfinished call: %+v", c)
	}
}

// forgetful is a dedup store that remembers nothing: payment without dedup.
type forgetful struct{ n atomic.Int64 }

func (f *forgetful) Claim(context.Context, string, time.Duration) (dedup.Claim, error) {
	return dedup.Claim{State: dedup.Acquired, Token: dedup.Token(fmt.Sprint(f.n.Add(1)))}, nil
}
func (f *forgetful) Confirm(context.Context, string, dedup.Token, time.Duration) error { return nil }
func (f *forgetful) Release(context.Context, string, dedup.Token) error                { return nil }

// The real payment service gets a reservation and, once it is paid, the
// same reservation again (as chaos redelivers it). With its dedup the
// copy is skipped and the checks hold; with dedup removed it calls the
// gateway again: the idempotency key keeps the money safe (charged once),
// but the gateway's repeat count and payment's own skip count give it away.
func TestChecksCatchPaymentWithoutDedup(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the payment service on a cluster")
	}
	memory, err := dedup.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		store   dedup.Store
		wantBad bool
	}{{"with dedup", memory, false}, {"without dedup", &forgetful{}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := runPaymentTwice(t, tc.store)
			if c := checkNamed(t, s, checkCharged); !c.OK {
				t.Errorf("charged twice despite the idempotency key: %+v", c)
			}
			for _, name := range []string{checkAskAgain, "1 redelivered reservations skipped by payment's dedup"} {
				if c := checkNamed(t, s, name); c.OK == tc.wantBad {
					t.Errorf("%s: check %+v, want OK %v", tc.name, c, !tc.wantBad)
				}
			}
		})
	}
}

// runPaymentTwice runs payment on a fresh cluster, sends one reservation,
// waits for its payment, sends a copy, waits for the copy to be committed,
// and checks the outcome.
func runPaymentTwice(t *testing.T, store dedup.Store) *Summary {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tp := events.Topics{}
	cluster := kafkatest.NewCluster(t, kafkatest.WithTopic(tp.Reserved(), 1),
		kafkatest.WithTopic(tp.PaymentCompleted(), 1), kafkatest.WithTopic(tp.PaymentFailed(), 1))
	gw, err := gateway.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	metrics, err := telemetry.New()
	if err != nil {
		t.Fatal(err)
	}
	defer metrics.Shutdown(context.Background())
	policies, err := payment.NewPolicies(nil, metrics.Provider())
	if err != nil {
		t.Fatal(err)
	}
	defer policies.Breaker.Close()
	codec, calls := events.JSON{}, payment.NewCallLog()
	svc, err := payment.New(payment.Config{Brokers: cluster.Brokers(), Topics: tp, Codec: codec,
		Gateway: &gateway.Client{BaseURL: gw.URL()}, Policies: policies, DedupStore: store, Calls: calls,
		Meter: metrics.Provider()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(runCtx) }()

	p, err := producer.New(cluster.Brokers())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	v, err := codec.Encode(ctx, tp.Reserved(), events.InventoryReserved{OrderID: "a", SKU: "s", Quantity: 1, AmountCents: 100})
	if err != nil {
		t.Fatal(err)
	}
	send := func(h ...bulwark.Header) {
		t.Helper()
		m := &bulwark.Message{Topic: tp.Reserved(), Key: []byte("a"), Value: v,
			Headers: append([]bulwark.Header{{Key: bulwark.HeaderMessageID, Value: []byte("reserved/a")}}, h...)}
		if _, err := p.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, done func() bool) {
		t.Helper()
		for !done() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	send()
	waitFor("the payment", func() bool {
		recs, _ := cluster.ReadTopic(ctx, tp.PaymentCompleted())
		return len(recs) == 1
	})
	send(bulwark.Header{Key: HeaderChaosDuplicate, Value: []byte("1")})
	waitFor("the copy to be committed", func() bool {
		off, _ := cluster.CommittedOffsets(ctx, "payment", tp.Reserved())
		return off[0] == 2
	})
	stop()
	if err := <-ran; err != nil {
		t.Fatalf("payment: %v", err)
	}

	recs := map[string][]*bulwark.Message{}
	for _, topic := range []string{tp.Reserved(), tp.PaymentCompleted(), tp.PaymentFailed()} {
		if recs[topic], err = cluster.ReadTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	s := &Summary{}
	s.DuplicatesSkipped, s.SkippedBy = dedupSkips(ctx, metrics)
	if err := check(ctx, checkInputs{topics: tp, codec: codec, placed: []events.OrderCreated{{OrderID: "a", SKU: "s", Quantity: 1}},
		gateway: gw.Counts(), unfinished: calls.Unfinished(), replayed: projection.NewView(), duplicates: 1}, recs, s); err != nil {
		t.Fatal(err)
	}
	t.Logf("gateway %+v, unfinished calls %v, skipped %v", gw.Counts(), calls.Unfinished(), s.SkippedBy)
	return s
}
