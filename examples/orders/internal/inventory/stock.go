package inventory

import (
	"sort"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
)

// source identifies the input record that changed an order's reservation,
// so that processing the same record again (after an aborted transaction)
// repeats its outputs, while a second record about the same order (a
// duplicate) changes nothing.
type source struct {
	topic     string
	partition int32
	offset    int64
}

func sourceOf(m *bulwark.Message) source { return source{m.Topic, m.Partition, m.Offset} }

type reservation struct {
	sku      string
	quantity int32
	state    string // events.StateReserved, StateRejected or StateReleased
	decided  source // the orders record that decided it
	released source // the release record that released it
}

// Stock is the inventory's state: the initial units of each SKU and the
// reservation of each order. Available units are derived from them, so
// the state can be rebuilt from the per-order records of the compacted
// topic alone, whatever order transactions committed in.
type Stock struct {
	initial      map[string]int64
	available    map[string]int64
	reservations map[string]*reservation
}

// NewStock returns empty state.
func NewStock() *Stock {
	return &Stock{initial: map[string]int64{}, available: map[string]int64{}, reservations: map[string]*reservation{}}
}

// restore applies one record of the stock topic (read from the start).
func (s *Stock) restore(key string, rec events.StockRecord) {
	switch {
	case key == events.StockKeySKU(rec.SKU):
		if _, ok := s.initial[rec.SKU]; !ok {
			s.initial[rec.SKU] = rec.Initial
			s.available[rec.SKU] += rec.Initial
		}
	case key == events.StockKeyOrder(rec.OrderID):
		prev := s.reservations[rec.OrderID]
		if prev != nil && prev.state == events.StateReserved {
			s.available[prev.sku] += int64(prev.quantity)
		}
		s.reservations[rec.OrderID] = &reservation{sku: rec.SKU, quantity: rec.Quantity, state: rec.State}
		if rec.State == events.StateReserved {
			s.available[rec.SKU] -= int64(rec.Quantity)
		}
	}
}

// seed sets the initial units of sku if it has none, and reports whether
// it did.
func (s *Stock) seed(sku string, units int64) bool {
	if _, ok := s.initial[sku]; ok {
		return false
	}
	s.initial[sku] = units
	s.available[sku] += units
	return true
}

// Available returns the units of sku not reserved.
func (s *Stock) Available(sku string) int64 { return s.available[sku] }

// Snapshot returns available units by SKU.
func (s *Stock) Snapshot() map[string]int64 {
	out := make(map[string]int64, len(s.available))
	for k, v := range s.available {
		out[k] = v
	}
	return out
}

// SKUs returns the known SKUs, sorted.
func (s *Stock) SKUs() []string {
	out := make([]string, 0, len(s.initial))
	for k := range s.initial {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Stock) skuRecord(sku string) events.StockRecord {
	return events.StockRecord{SKU: sku, Initial: s.initial[sku], Available: s.available[sku]}
}
