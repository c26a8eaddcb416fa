package projection

import (
	"encoding/json"
	"net/http"
)

// Handler serves GET /orders/{id}, GET /orders[?status=...], GET
// /orders/stats and POST /projection/rebuild.
func (p *Projection) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		var (
			o  Order
			ok bool
		)
		p.Read(func(v *View) { o, ok = v.Get(r.PathValue("id")) })
		if !ok {
			http.Error(w, "order not found", http.StatusNotFound)
			return
		}
		writeJSON(w, o)
	})
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		var list []Order
		p.Read(func(v *View) { list = v.List(r.URL.Query().Get("status")) })
		writeJSON(w, list)
	})
	mux.HandleFunc("GET /orders/stats", func(w http.ResponseWriter, r *http.Request) {
		var counts map[string]int
		p.Read(func(v *View) { counts = v.Counts() })
		writeJSON(w, counts)
	})
	mux.HandleFunc("POST /projection/rebuild", func(w http.ResponseWriter, r *http.Request) {
		n, err := p.Rebuild(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]int{"records_replayed": n})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
