package order

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark/examples/orders/events"
)

// Request is the body of POST /orders.
type Request struct {
	CustomerID  string `json:"customer_id"`
	SKU         string `json:"sku"`
	Quantity    int32  `json:"quantity"`
	AmountCents int64  `json:"amount_cents"`
}

var httpOrders atomic.Int64

// Handler serves POST /orders: it publishes the order and answers 201 with
// its ID once the event is committed.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var req Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "invalid order: "+err.Error(), http.StatusBadRequest)
			return
		}
		if req.SKU == "" || req.Quantity <= 0 || req.AmountCents <= 0 {
			http.Error(w, "invalid order: sku, quantity > 0 and amount_cents > 0 are required", http.StatusBadRequest)
			return
		}
		o := events.OrderCreated{
			OrderID:     fmt.Sprintf("http-%d-%d", time.Now().UnixNano(), httpOrders.Add(1)),
			CustomerID:  req.CustomerID,
			SKU:         req.SKU,
			Quantity:    req.Quantity,
			AmountCents: req.AmountCents,
			CreatedAt:   time.Now().UTC().Truncate(time.Millisecond),
		}
		if err := s.Place(r.Context(), o); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(o)
	})
	return mux
}
