// Package events holds the order pipeline's topic names and event types: the
// contract between its services. Every event is keyed by its order ID, so all
// events of one order land in the same partition of each topic and stay in
// order there.
package events

import "time"

// Topics of the pipeline. A Topics value adds a prefix to each, so that
// several runs can share a real cluster.
type Topics struct{ Prefix string }

func (t Topics) name(n string) string { return t.Prefix + n }

// Orders carries OrderCreated events from the order service.
func (t Topics) Orders() string { return t.name("orders") }

// Reserved carries InventoryReserved events (exactly-once, from inventory).
func (t Topics) Reserved() string { return t.name("inventory.reserved") }

// Rejected carries InventoryRejected events (exactly-once, from inventory).
func (t Topics) Rejected() string { return t.name("inventory.rejected") }

// Release carries InventoryRelease commands from the saga: give the stock
// of a failed order back.
func (t Topics) Release() string { return t.name("inventory.release") }

// Stock is the compacted topic holding the inventory's state: one record
// per SKU with its available quantity, and one per order with its
// reservation.
func (t Topics) Stock() string { return t.name("inventory.stock") }

// PaymentCompleted carries PaymentCompleted events.
func (t Topics) PaymentCompleted() string { return t.name("payment.completed") }

// PaymentFailed carries PaymentFailed events.
func (t Topics) PaymentFailed() string { return t.name("payment.failed") }

// ShippingScheduled carries ShippingScheduled events.
func (t Topics) ShippingScheduled() string { return t.name("shipping.scheduled") }

// DeadLetter names the dead-letter topic of topic (consumer and eos
// default: "<topic>.dlt").
func (t Topics) DeadLetter(topic string) string { return topic + ".dlt" }

// Inputs lists the topics some service consumes; each has a dead-letter
// topic.
func (t Topics) Inputs() []string {
	return []string{t.Orders(), t.Release(), t.Reserved(), t.PaymentCompleted(), t.PaymentFailed()}
}

// Events lists the topics the projection reads.
func (t Topics) Events() []string {
	return []string{t.Orders(), t.Reserved(), t.Rejected(), t.PaymentCompleted(), t.PaymentFailed(),
		t.Release(), t.ShippingScheduled()}
}

// OrderCreated: a customer placed an order for Quantity units of SKU.
type OrderCreated struct {
	OrderID     string    `avro:"order_id" json:"order_id"`
	CustomerID  string    `avro:"customer_id" json:"customer_id"`
	SKU         string    `avro:"sku" json:"sku"`
	Quantity    int32     `avro:"quantity" json:"quantity"`
	AmountCents int64     `avro:"amount_cents" json:"amount_cents"`
	CreatedAt   time.Time `avro:"created_at" json:"created_at"`
}

// InventoryReserved: the order's units are set aside.
type InventoryReserved struct {
	OrderID     string `avro:"order_id" json:"order_id"`
	SKU         string `avro:"sku" json:"sku"`
	Quantity    int32  `avro:"quantity" json:"quantity"`
	AmountCents int64  `avro:"amount_cents" json:"amount_cents"`
}

// InventoryRejected: not enough stock (or an unknown SKU).
type InventoryRejected struct {
	OrderID  string `avro:"order_id" json:"order_id"`
	SKU      string `avro:"sku" json:"sku"`
	Quantity int32  `avro:"quantity" json:"quantity"`
	Reason   string `avro:"reason" json:"reason"`
}

// InventoryRelease asks the inventory to give a reservation back (saga
// compensation after a failed payment).
type InventoryRelease struct {
	OrderID string `avro:"order_id" json:"order_id"`
	Reason  string `avro:"reason" json:"reason"`
}

// PaymentCompleted: the gateway charged the order.
type PaymentCompleted struct {
	OrderID     string `avro:"order_id" json:"order_id"`
	AmountCents int64  `avro:"amount_cents" json:"amount_cents"`
	ChargeID    string `avro:"charge_id" json:"charge_id"`
}

// PaymentFailed: the gateway declined the charge.
type PaymentFailed struct {
	OrderID string `avro:"order_id" json:"order_id"`
	Reason  string `avro:"reason" json:"reason"`
}

// ShippingScheduled: a delivery is booked for a paid order.
type ShippingScheduled struct {
	OrderID     string    `avro:"order_id" json:"order_id"`
	Carrier     string    `avro:"carrier" json:"carrier"`
	DeliveryDay time.Time `avro:"delivery_day" json:"delivery_day"`
}

// StockRecord is one record of the compacted stock topic. Key "sku/<sku>":
// the Initial units of SKU and those Available now. Key "order/<id>": the
// reservation of an order (SKU, Quantity), State "reserved", "rejected" or
// "released".
type StockRecord struct {
	SKU       string `avro:"sku" json:"sku"`
	Initial   int64  `avro:"initial" json:"initial"`
	Available int64  `avro:"available" json:"available"`
	OrderID   string `avro:"order_id" json:"order_id"`
	Quantity  int32  `avro:"quantity" json:"quantity"`
	State     string `avro:"state" json:"state"`
}

// Reservation states in StockRecord.State.
const (
	StateReserved = "reserved"
	StateRejected = "rejected"
	StateReleased = "released"
)

// StockKeySKU and StockKeyOrder build the keys of the stock topic.
func StockKeySKU(sku string) string { return "sku/" + sku }

// StockKeyOrder is the stock-topic key of an order's reservation.
func StockKeyOrder(orderID string) string { return "order/" + orderID }
