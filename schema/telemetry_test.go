package schema_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/telemetry/telemetrytest"
	"github.com/bulwarkgo/bulwark/schema"
	"go.opentelemetry.io/otel/attribute"
)

// Each request to the registry is measured under the HTTP client
// semantic convention: a 2 ms answer lands in a bucket at or below 5 ms,
// and an error answer carries its status as error.type.
func TestRegistryRequestDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		if r.Method == http.MethodPost {
			_, _ = w.Write([]byte(`{"id":7}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error_code":40401,"message":"Subject not found"}`))
	}))
	defer srv.Close()
	mp, r := telemetrytest.Reader(t)
	client, err := schema.NewClient(srv.URL, schema.WithMeterProvider(mp), schema.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	if id, err := client.Register(ctx, "orders-value", schema.Schema{Text: `"string"`}); err != nil || id != 7 {
		t.Fatalf("register: %d, %v", id, err)
	}
	if _, err := client.LatestSchema(ctx, "missing"); !errors.Is(err, schema.ErrSubjectNotFound) {
		t.Fatalf("latest: %v, want ErrSubjectNotFound", err)
	}
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(u.Port())
	server := []attribute.KeyValue{attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", p)}
	ok := telemetrytest.Histogram(t, r, schema.MetricRequestDuration, append(server,
		attribute.String("http.request.method", "POST"), attribute.Int("http.response.status_code", 200))...)
	telemetrytest.AssertDurationBuckets(t, schema.MetricRequestDuration, ok)
	if v, found := ok.Attributes.Value("error.type"); found {
		t.Fatalf("a good answer with error.type %v", v.AsString())
	}
	notFound := telemetrytest.Histogram(t, r, schema.MetricRequestDuration,
		attribute.String("http.request.method", "GET"), attribute.String("error.type", "404"))
	if notFound.Count != 1 {
		t.Fatalf("404 answers: %d, want 1", notFound.Count)
	}
}
