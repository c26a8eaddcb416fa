package projection

import (
	"encoding/json"
	"net/http"
)

// Handler serves GET /orders/{id}, GET /orders[?status=...], GET
// /orders/stats and POST /projection/rebuild, from PostgreSQL when the
// projection has a Store.
func (p *Projection) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		var (
			o  Order
			ok bool
		)
		if st := p.cfg.Store; st != nil {
			var err error
			if o, ok, err = st.Get(r.Context(), r.PathValue("id")); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		} else {
			p.Read(func(v *View) { o, ok = v.Get(r.PathValue("id")) })
		}
		if !ok {
			http.Error(w, "order not found", http.StatusNotFound)
			return
		}
		writeJSON(w, o)
	})
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		var list []Order
		if st := p.cfg.Store; st != nil {
			var err error
			if list, err = st.List(r.Context(), r.URL.Query().Get("status")); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		} else {
			p.Read(func(v *View) { list = v.List(r.URL.Query().Get("status")) })
		}
		writeJSON(w, list)
	})
	mux.HandleFunc("GET /orders/stats", func(w http.ResponseWriter, r *http.Request) {
		var counts map[string]int
		if st := p.cfg.Store; st != nil {
			var err error
			if counts, err = st.Counts(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		} else {
			p.Read(func(v *View) { counts = v.Counts() })
		}
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
