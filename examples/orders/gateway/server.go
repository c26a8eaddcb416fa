// Package gateway is a simulated payment gateway: an HTTP service on
// loopback that charges orders, can be made slow or failing, and counts the
// charges it made per order so that "no order is charged twice" can be
// checked from the outside.
//
// Like real payment APIs it honours an Idempotency-Key header: a repeated
// request with a key it has already charged is answered with the original
// charge and not charged again. Consumer-side dedup keeps redelivered records
// from calling it at all; the key covers the one window dedup cannot, a crash
// after the charge and before the dedup mark is confirmed. So that the key
// does not hide a client that asks twice, the gateway also counts, per
// order, every request about an order it had already charged or declined
// (Counts.Repeats): each is the payment service processing the same
// reservation again.
package gateway

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is the simulated gateway.
type Server struct {
	srv *http.Server
	ln  net.Listener

	declinePercent int

	mu        sync.Mutex
	outage    bool
	latency   time.Duration
	charges   map[string]int    // order ID -> charges made
	declined  map[string]bool   // order ID -> declined at least once
	repeats   map[string]int    // order ID -> requests after the order was charged or declined
	byKey     map[string]string // idempotency key -> charge ID
	requests  int
	replays   int
	declines  int
	unavailbl int
}

// Charge is a request to the gateway.
type Charge struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
}

// Receipt is the answer to a successful charge.
type Receipt struct {
	ChargeID string `json:"charge_id"`
}

// Start serves the gateway on 127.0.0.1 at a free port. declinePercent of
// orders (chosen by a hash of the order ID, so the same order is always
// declined) are declined with 402.
func Start(declinePercent int) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, declinePercent: declinePercent, charges: map[string]int{}, declined: map[string]bool{},
		repeats: map[string]int{}, byKey: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /charges", s.charge)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the gateway's base URL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// SetOutage makes every request fail with 503 (true) or work again.
func (s *Server) SetOutage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = on
}

// SetLatency delays every answer by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Declines reports whether the gateway declines orderID.
func (s *Server) Declines(orderID string) bool {
	h := fnv.New32a()
	_, _ = h.Write([]byte(orderID))
	return int(h.Sum32()%100) < s.declinePercent
}

func (s *Server) charge(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	latency := s.latency
	s.requests++
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	var c Charge
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil || c.OrderID == "" || c.AmountCents <= 0 {
		http.Error(w, "bad charge request", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.charges[c.OrderID] > 0 || s.declined[c.OrderID] {
		s.repeats[c.OrderID]++
	}
	if s.outage {
		s.unavailbl++
		http.Error(w, "payment gateway unavailable", http.StatusServiceUnavailable)
		return
	}
	if id, ok := s.byKey[key]; ok && key != "" {
		s.replays++
		writeJSON(w, http.StatusOK, Receipt{ChargeID: id})
		return
	}
	if s.Declines(c.OrderID) {
		s.declines++
		s.declined[c.OrderID] = true
		http.Error(w, "card declined", http.StatusPaymentRequired)
		return
	}
	s.charges[c.OrderID]++
	id := fmt.Sprintf("ch_%s_%d", c.OrderID, s.charges[c.OrderID])
	if key != "" {
		s.byKey[key] = id
	}
	writeJSON(w, http.StatusCreated, Receipt{ChargeID: id})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Counts is a snapshot of what the gateway did.
type Counts struct {
	Requests    int            // charge requests received
	Charges     map[string]int // order ID -> charges made
	Replays     int            // requests answered from an earlier charge with the same idempotency key
	Repeats     map[string]int // order ID -> requests received after the order was charged or declined
	Declines    int            // requests declined
	Unavailable int            // requests refused during an outage
}

// Counts returns a snapshot.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Counts{Requests: s.requests, Replays: s.replays, Declines: s.declines, Unavailable: s.unavailbl,
		Charges: maps.Clone(s.charges), Repeats: maps.Clone(s.repeats)}
	return c
}
