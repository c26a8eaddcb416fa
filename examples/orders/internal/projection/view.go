package projection

import (
	"sort"
	"time"
)

// Order statuses, as the query endpoint shows them. The final ones are
// Rejected, Shipped, Compensated and DeadLettered.
const (
	StatusCreated       = "created"
	StatusReserved      = "reserved"
	StatusRejected      = "rejected"
	StatusPaid          = "paid"
	StatusPaymentFailed = "payment_failed"
	StatusCompensated   = "compensated"
	StatusShipped       = "shipped"
	StatusDeadLettered  = "dead_lettered"
)

// Final reports whether status is one an order stays in.
func Final(status string) bool {
	switch status {
	case StatusRejected, StatusShipped, StatusCompensated, StatusDeadLettered:
		return true
	}
	return false
}

// Order is the view of one order. Events of different topics arrive in any
// order, so the view records facts and derives the status from them.
type Order struct {
	OrderID     string    `json:"order_id"`
	CustomerID  string    `json:"customer_id,omitempty"`
	SKU         string    `json:"sku,omitempty"`
	Quantity    int32     `json:"quantity,omitempty"`
	AmountCents int64     `json:"amount_cents,omitempty"`
	Status      string    `json:"status"`
	ChargeID    string    `json:"charge_id,omitempty"`
	Carrier     string    `json:"carrier,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`

	Created       bool `json:"-"`
	Reserved      bool `json:"-"`
	Rejected      bool `json:"-"`
	Paid          bool `json:"-"`
	PaymentFailed bool `json:"-"`
	Released      bool `json:"-"`
	Shipped       bool `json:"-"`
	DeadLettered  bool `json:"-"`
}

func (o *Order) derive() {
	switch {
	case o.Shipped:
		o.Status = StatusShipped
	case o.PaymentFailed && o.Released:
		o.Status = StatusCompensated
	case o.PaymentFailed:
		o.Status = StatusPaymentFailed
	case o.Paid:
		o.Status = StatusPaid
	case o.Rejected:
		o.Status = StatusRejected
	case o.DeadLettered:
		o.Status = StatusDeadLettered
	case o.Reserved:
		o.Status = StatusReserved
	default:
		o.Status = StatusCreated
	}
}

// View is the set of orders. It is not safe for concurrent use; Projection
// guards it.
type View struct {
	orders map[string]*Order
}

// NewView returns an empty view.
func NewView() *View { return &View{orders: map[string]*Order{}} }

func (v *View) order(id string) *Order {
	o := v.orders[id]
	if o == nil {
		o = &Order{OrderID: id}
		v.orders[id] = o
	}
	return o
}

// Get returns a copy of the order's view.
func (v *View) Get(id string) (Order, bool) {
	o, ok := v.orders[id]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// List returns copies of the orders with status (all when ""), by ID.
func (v *View) List(status string) []Order {
	out := make([]Order, 0, len(v.orders))
	for _, o := range v.orders {
		if status == "" || o.Status == status {
			out = append(out, *o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrderID < out[j].OrderID })
	return out
}

// Counts returns the number of orders per status.
func (v *View) Counts() map[string]int {
	out := map[string]int{}
	for _, o := range v.orders {
		out[o.Status]++
	}
	return out
}
