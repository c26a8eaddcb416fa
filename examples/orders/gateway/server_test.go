package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
)

// A repeated request is never charged again when it carries the same
// idempotency key, but it is counted as a repeat; without a key it is
// charged again. A repeated declined order is a repeat too.
func TestRepeatsAreCounted(t *testing.T) {
	s, err := Start(0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &Client{BaseURL: s.URL()}
	ctx := context.Background()
	first, err := c.Charge(ctx, "o1", 100)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Charge(ctx, "o1", 100)
	if err != nil || again != first {
		t.Fatalf("second charge with the same key: %q, %v; want the first charge %q", again, err, first)
	}
	// Without an idempotency key the gateway cannot tell: it charges again.
	for range 2 {
		body, _ := json.Marshal(Charge{OrderID: "o2", AmountCents: 100})
		resp, err := http.Post(s.URL()+"/charges", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("keyless charge: %s", resp.Status)
		}
	}
	got := s.Counts()
	if got.Charges["o1"] != 1 || got.Repeats["o1"] != 1 || got.Replays != 1 {
		t.Errorf("o1: charges %d, repeats %d, replays %d; want 1, 1, 1", got.Charges["o1"], got.Repeats["o1"], got.Replays)
	}
	if got.Charges["o2"] != 2 || got.Repeats["o2"] != 1 {
		t.Errorf("o2 (no key): charges %d, repeats %d; want 2, 1", got.Charges["o2"], got.Repeats["o2"])
	}

	d, err := Start(100)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dc := &Client{BaseURL: d.URL()}
	for i := range 3 {
		if _, err := dc.Charge(ctx, "o3", 100); !errors.Is(err, ErrDeclined) {
			t.Fatalf("charge %d: %v, want declined", i, err)
		}
	}
	if n := d.Counts().Repeats["o3"]; n != 2 {
		t.Errorf("declined order asked 3 times: %d repeats, want 2", n)
	}
	if n := len(d.Counts().Charges); n != 0 {
		t.Errorf("%d orders charged by a gateway that declines all", n)
	}
}
