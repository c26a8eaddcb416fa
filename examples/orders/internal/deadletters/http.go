package deadletters

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/producer"
)

// Handler serves GET /dlt (every dead-letter record, with where it came
// from and why it failed) and POST /dlt/replay?topic=<dead-letter topic>
// (send that topic's records back to their source topics).
func Handler(r Reader, brokers []string, connOpts []conn.Option, dlts []string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dlt", func(w http.ResponseWriter, req *http.Request) {
		recs, err := List(req.Context(), r, dlts...)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(recs)
	})
	mux.HandleFunc("POST /dlt/replay", func(w http.ResponseWriter, req *http.Request) {
		topic := req.URL.Query().Get("topic")
		if !slices.Contains(dlts, topic) {
			http.Error(w, "topic must be one of the dead-letter topics", http.StatusBadRequest)
			return
		}
		recs, err := List(req.Context(), r, topic)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		p, err := producer.New(brokers, producer.WithConnection(connOpts...))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer p.Close()
		n, err := Replay(req.Context(), func(ctx context.Context, m *bulwark.Message) error {
			_, err := p.Send(ctx, m)
			return err
		}, recs)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int{"replayed": n})
	})
	return mux
}
