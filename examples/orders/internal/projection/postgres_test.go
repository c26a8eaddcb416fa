package projection

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/servicetest"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// The query endpoints serve the PostgreSQL view when the projection has
// one, and a rebuild rewrites it.
func TestPGStoreServesQueries(t *testing.T) {
	db := servicetest.Postgres(t)
	table := servicetest.UniqueName(t, "view")
	st, err := OpenPG(context.Background(), db, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + table) })

	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	shipped := Order{OrderID: "o-1", CustomerID: "c-1", SKU: "sku-1", Quantity: 2, AmountCents: 500, Status: StatusShipped, Carrier: "dhl", UpdatedAt: at}
	rejected := Order{OrderID: "o-2", CustomerID: "c-2", SKU: "sku-2", Quantity: 1, AmountCents: 100, Status: StatusRejected, Reason: "out of stock", UpdatedAt: at}
	for _, o := range []Order{shipped, rejected, shipped} { // written twice: still one row
		if err := st.upsert(context.Background(), db, o); err != nil {
			t.Fatal(err)
		}
	}
	p := &Projection{cfg: Config{Store: st}, view: NewView()} // the in-memory view is empty: answers must come from PostgreSQL
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	get := func(path string, into any) int {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	var o Order
	if code := get("/orders/o-1", &o); code != http.StatusOK || o.Status != StatusShipped || o.Carrier != "dhl" || !o.UpdatedAt.Equal(at) {
		t.Fatalf("GET /orders/o-1: %d %+v", code, o)
	}
	if code := get("/orders/nope", &o); code != http.StatusNotFound {
		t.Fatalf("unknown order: %d", code)
	}
	var list []Order
	if get("/orders?status=rejected", &list); len(list) != 1 || list[0].OrderID != "o-2" || list[0].Reason != "out of stock" {
		t.Fatalf("rejected orders: %+v", list)
	}
	var counts map[string]int
	if get("/orders/stats", &counts); counts[StatusShipped] != 1 || counts[StatusRejected] != 1 || len(counts) != 2 {
		t.Fatalf("stats: %v", counts)
	}

	// replaceAll (what a rebuild does) leaves exactly the new content.
	if err := st.replaceAll(context.Background(), []Order{rejected}); err != nil {
		t.Fatal(err)
	}
	if get("/orders", &list); len(list) != 1 || list[0].OrderID != "o-2" {
		t.Fatalf("after replaceAll: %+v", list)
	}

	// A database that went away gives an error, not an empty answer.
	_ = db.Close()
	if code := get("/orders", &list); code != http.StatusServiceUnavailable {
		t.Fatalf("database closed: %d, want 503", code)
	}
	if _, err := OpenPG(context.Background(), db, "bad-name;"); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("a table name that is not an identifier was accepted: %v", err)
	}
}
