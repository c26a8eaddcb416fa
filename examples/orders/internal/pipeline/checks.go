package pipeline

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/examples/orders/gateway"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/projection"
)

// Check is one invariant and its outcome.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Summary is the outcome of a run.
type Summary struct {
	Placed        int
	Reserved      int
	Rejected      int
	Paid          int
	PaymentFailed int
	Shipped       int
	Compensated   int
	DeadLettered  int // records in dead-letter topics
	ParkedOrders  int // orders whose flow stopped in a dead-letter topic

	DuplicatesSkipped int            // records dedup skipped, all services
	SkippedBy         []ServiceCount // records dedup skipped, per service
	DuplicateEvents   int            // repeated events of one order in at-least-once topics
	BreakerOpenings   int
	GatewayRequests   int
	GatewayReplays    int // charges answered from the idempotency key
	GatewayRepeats    int // requests about an order the gateway had already charged or declined
	OrderRetries      int64
	Outbox            bool  // orders went through the PostgreSQL outbox
	OutboxRelayed     int64 // events the relays published
	OutboxReconciled  int64 // rows found already published after a relay crash
	Crashes           int
	Restarts          int
	Faults            []string

	Elapsed time.Duration
	Checks  []Check
}

// ServiceCount is a count of one service.
type ServiceCount struct {
	Service string
	N       int
}

// Skipped returns how many records service's dedup skipped.
func (s *Summary) Skipped(service string) int {
	for _, c := range s.SkippedBy {
		if c.Service == service {
			return c.N
		}
	}
	return 0
}

// OK reports whether every invariant holds.
func (s *Summary) OK() bool {
	for _, c := range s.Checks {
		if !c.OK {
			return false
		}
	}
	return len(s.Checks) > 0
}

// Print writes the summary.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "\nsummary after %v\n", s.Elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  orders placed        %6d\n", s.Placed)
	fmt.Fprintf(w, "  reserved             %6d\n", s.Reserved)
	fmt.Fprintf(w, "  rejected (no stock)  %6d\n", s.Rejected)
	fmt.Fprintf(w, "  paid                 %6d\n", s.Paid)
	fmt.Fprintf(w, "  payment failed       %6d\n", s.PaymentFailed)
	fmt.Fprintf(w, "  shipped              %6d\n", s.Shipped)
	fmt.Fprintf(w, "  compensated          %6d\n", s.Compensated)
	fmt.Fprintf(w, "  dead-lettered        %6d records (%d orders parked)\n", s.DeadLettered, s.ParkedOrders)
	fmt.Fprintf(w, "  duplicates skipped   %6d (dedup", s.DuplicatesSkipped)
	for _, c := range s.SkippedBy {
		fmt.Fprintf(w, ", %s %d", c.Service, c.N)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "  duplicate events     %6d (at-least-once topics)\n", s.DuplicateEvents)
	fmt.Fprintf(w, "  breaker openings     %6d\n", s.BreakerOpenings)
	fmt.Fprintf(w, "  gateway requests     %6d (%d about an order already charged or declined, %d answered by idempotency key)\n",
		s.GatewayRequests, s.GatewayRepeats, s.GatewayReplays)
	fmt.Fprintf(w, "  order publish retries%6d\n", s.OrderRetries)
	if s.Outbox {
		fmt.Fprintf(w, "  outbox relayed       %6d (%d found already published after a relay crash)\n", s.OutboxRelayed, s.OutboxReconciled)
	}
	if len(s.Faults) > 0 || s.Crashes > 0 {
		fmt.Fprintf(w, "  chaos                %d service crashes, %d restarts\n", s.Crashes, s.Restarts)
		for _, f := range s.Faults {
			fmt.Fprintf(w, "                       - %s\n", f)
		}
	}
	fmt.Fprintln(w, "invariants")
	for _, c := range s.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  [%s] %s", mark, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(w, ": %s", c.Detail)
		}
		fmt.Fprintln(w)
	}
}

// facts is what the topics say about each order.
type facts struct {
	published, reserved, rejected, paid, failed, shipped int
	released, parked                                     bool
	sku                                                  string
	qty                                                  int32
}

// checkInputs is what check reads besides the topics.
type checkInputs struct {
	topics  events.Topics
	codec   events.Codec
	placed  []events.OrderCreated
	initial map[string]int64
	poison  int
	gateway gateway.Counts
	// unfinished is, per order, the payment service's gateway calls that
	// did not finish their record (payment.CallLog).
	unfinished map[string]int
	live       map[string]string // order ID -> status in the live projection
	replayed   *projection.View
	// duplicates is how many reservations chaos delivered twice on
	// purpose (marked with HeaderChaosDuplicate).
	duplicates int
}

func check(ctx context.Context, in checkInputs, recs map[string][]*bulwark.Message, s *Summary) error {
	t := in.topics
	orders := map[string]*facts{}
	placed := map[string]bool{}
	for _, o := range in.placed {
		placed[o.OrderID] = true
		orders[o.OrderID] = &facts{sku: o.SKU, qty: o.Quantity}
	}
	get := func(id string) *facts {
		f := orders[id]
		if f == nil {
			f = &facts{}
			orders[id] = f
		}
		return f
	}
	for _, m := range recs[t.Orders()] {
		var o events.OrderCreated
		if in.codec.Decode(ctx, m.Topic, m.Value, &o) == nil {
			get(o.OrderID).published++
		}
	}
	count := func(topic string, field func(*facts) *int) {
		for _, m := range recs[topic] {
			if _, dup := m.Header(HeaderChaosDuplicate); !dup {
				*field(get(string(m.Key)))++
			}
		}
	}
	count(t.Reserved(), func(f *facts) *int { return &f.reserved })
	count(t.Rejected(), func(f *facts) *int { return &f.rejected })
	count(t.PaymentCompleted(), func(f *facts) *int { return &f.paid })
	count(t.PaymentFailed(), func(f *facts) *int { return &f.failed })
	count(t.ShippingScheduled(), func(f *facts) *int { return &f.shipped })

	lastSKU := map[string]events.StockRecord{}
	for _, m := range recs[t.Stock()] {
		var r events.StockRecord
		if err := in.codec.Decode(ctx, m.Topic, m.Value, &r); err != nil {
			return err
		}
		switch string(m.Key) {
		case events.StockKeySKU(r.SKU):
			lastSKU[r.SKU] = r
		case events.StockKeyOrder(r.OrderID):
			get(r.OrderID).released = r.State == events.StateReleased
		}
	}
	for _, dlt := range []string{t.DeadLetter(t.Reserved()), t.DeadLetter(t.PaymentCompleted()), t.DeadLetter(t.PaymentFailed())} {
		for _, m := range recs[dlt] {
			get(string(m.Key)).parked = true
		}
	}
	for _, in := range t.Inputs() {
		s.DeadLettered += len(recs[t.DeadLetter(in)])
	}

	var (
		publishBad, decideBad, finalBad, payBad []string
		held                                    = map[string]int64{}
	)
	ids := make([]string, 0, len(placed))
	for id := range placed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		f := orders[id]
		if f.published != 1 {
			publishBad = append(publishBad, fmt.Sprintf("%s published %d times", id, f.published))
		}
		if f.reserved+f.rejected != 1 {
			decideBad = append(decideBad, fmt.Sprintf("%s reserved %d, rejected %d times", id, f.reserved, f.rejected))
		}
		var finals []string
		if f.rejected > 0 {
			finals = append(finals, "rejected")
			s.Rejected++
		}
		if f.reserved > 0 {
			s.Reserved++
		}
		if f.paid > 0 {
			s.Paid++
			s.DuplicateEvents += f.paid - 1
		}
		if f.failed > 0 {
			s.PaymentFailed++
			s.DuplicateEvents += f.failed - 1
		}
		if f.shipped > 0 {
			finals = append(finals, "shipped")
			s.Shipped++
			s.DuplicateEvents += f.shipped - 1
		}
		if f.failed > 0 && f.released {
			finals = append(finals, "compensated")
			s.Compensated++
		}
		if f.parked {
			finals = append(finals, "dead-lettered")
			s.ParkedOrders++
		}
		if len(finals) != 1 {
			finalBad = append(finalBad, fmt.Sprintf("%s: %v", id, finals))
		}
		if f.paid > 0 && f.failed > 0 {
			payBad = append(payBad, id+" both paid and failed")
		}
		if f.released && f.failed == 0 {
			finalBad = append(finalBad, id+" released without a failed payment")
		}
		if f.reserved > 0 && !f.released {
			held[f.sku] += int64(f.qty)
		}
	}
	add := func(name string, bad []string) {
		c := Check{Name: name, OK: len(bad) == 0}
		if !c.OK {
			c.Detail = fmt.Sprintf("%d violations, e.g. %s", len(bad), strings.Join(bad[:min(3, len(bad))], "; "))
		}
		s.Checks = append(s.Checks, c)
	}
	add("every placed order published exactly once", publishBad)
	add("every order reserved or rejected exactly once (eos)", decideBad)
	add("every order reaches exactly one final state", finalBad)

	var stockBad []string
	skus := make([]string, 0, len(in.initial))
	for sku := range in.initial {
		skus = append(skus, sku)
	}
	sort.Strings(skus)
	for _, sku := range skus {
		want := in.initial[sku] - held[sku]
		got, ok := lastSKU[sku]
		switch {
		case !ok:
			stockBad = append(stockBad, sku+" has no stock record")
		case got.Available != want:
			stockBad = append(stockBad, fmt.Sprintf("%s available %d, want initial %d - held %d = %d", sku, got.Available, in.initial[sku], held[sku], want))
		case got.Available < 0:
			stockBad = append(stockBad, fmt.Sprintf("%s available %d < 0", sku, got.Available))
		}
	}
	add("stock is conserved (initial = available + held by reserved, unreleased orders)", stockBad)

	for id, n := range in.gateway.Charges {
		if n > 1 {
			payBad = append(payBad, fmt.Sprintf("%s charged %d times", id, n))
		}
		if f := orders[id]; f == nil || f.paid == 0 {
			payBad = append(payBad, id+" charged but no payment.completed")
		}
	}
	for _, id := range ids {
		if orders[id].paid > 0 && in.gateway.Charges[id] != 1 {
			payBad = append(payBad, fmt.Sprintf("%s paid but charged %d times", id, in.gateway.Charges[id]))
		}
	}
	add("no payment charged twice (gateway's own count), every charge completed", payBad)

	// The idempotency key keeps the money safe whatever payment does, so
	// the charge count alone cannot show payment processing a reservation
	// twice. The gateway's repeats can: each is legitimate only after a call
	// that did not finish its record (a retry, a failed publish, a crash).
	var repeatBad []string
	repeated := make([]string, 0, len(in.gateway.Repeats))
	for id, n := range in.gateway.Repeats {
		s.GatewayRepeats += n
		repeated = append(repeated, id)
	}
	sort.Strings(repeated)
	for _, id := range repeated {
		if n, allowed := in.gateway.Repeats[id], in.unfinished[id]; n > allowed {
			repeatBad = append(repeatBad, fmt.Sprintf("%s asked again %d times after %d unfinished calls", id, n, allowed))
		}
	}
	add("payment asked the gateway about an order again only after a call cut short", repeatBad)

	var poisonBad []string
	poison := 0
	for _, m := range recs[t.DeadLetter(t.Orders())] {
		if strings.HasPrefix(string(m.Key), "poison-") {
			poison++
		}
	}
	if poison != in.poison {
		poisonBad = append(poisonBad, fmt.Sprintf("%d of %d poison records in %s", poison, in.poison, t.DeadLetter(t.Orders())))
	}
	add("undecodable records dead-lettered, once each", poisonBad)

	if in.duplicates > 0 {
		var dupBad []string
		if n := s.Skipped("payment"); n < in.duplicates {
			dupBad = append(dupBad, fmt.Sprintf("payment's dedup skipped %d records, %d reservations were delivered twice", n, in.duplicates))
		}
		add(fmt.Sprintf("%d redelivered reservations skipped by payment's dedup", in.duplicates), dupBad)
	}

	var viewBad []string
	for _, id := range ids {
		r, _ := in.replayed.Get(id)
		if in.live[id] != r.Status {
			viewBad = append(viewBad, fmt.Sprintf("%s live %q, replayed %q", id, in.live[id], r.Status))
		}
	}
	add("live projection equals a replay of the topics", viewBad)
	return nil
}
