package schema_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

const orderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[
	{"name":"orderId","type":"string"},{"name":"amount","type":"double"}]}`

func avroSchema(text string) schema.Schema { return schema.Schema{Type: schema.TypeAvro, Text: text} }

// An http.Handler that answers with a fixed status and body.
func fixedAnswer(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

func TestRegistryErrorMapping(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   error
	}{
		{404, `{"error_code":40401,"message":"Subject 'x' not found."}`, schema.ErrSubjectNotFound},
		{404, `{"error_code":40404,"message":"Subject 'x' was soft deleted."}`, schema.ErrSubjectNotFound},
		{404, `{"error_code":40402,"message":"Version 3 not found."}`, schema.ErrVersionNotFound},
		{404, `{"error_code":40403,"message":"Schema 7 not found"}`, schema.ErrSchemaNotFound},
		{409, `{"error_code":409,"message":"incompatible"}`, schema.ErrIncompatibleSchema},
		{422, `{"error_code":42201,"message":"Invalid schema"}`, schema.ErrInvalidSchema},
		{422, `{"error_code":42202,"message":"Invalid version"}`, schema.ErrInvalidVersion},
		{422, `{"error_code":42203,"message":"Invalid compatibility level"}`, schema.ErrInvalidCompatibility},
	}
	for _, tc := range cases {
		srv := httptest.NewServer(fixedAnswer(tc.status, tc.body))
		c := must(schema.NewClient(srv.URL, schema.WithRetries(0)))
		_, err := c.SchemaByID(context.Background(), 7)
		srv.Close()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v does not match %v", tc.body, err, tc.want)
		}
		var re *schema.RegistryError
		if !errors.As(err, &re) || re.StatusCode != tc.status {
			t.Errorf("%s: %v is not a RegistryError with status %d", tc.body, err, tc.status)
		}
	}
	// A body that is not the registry's JSON still gives a RegistryError.
	srv := httptest.NewServer(fixedAnswer(404, "<html>nope</html>"))
	defer srv.Close()
	c := must(schema.NewClient(srv.URL, schema.WithRetries(0)))
	_, err := c.SchemaByID(context.Background(), 1)
	var re *schema.RegistryError
	if !errors.As(err, &re) || re.Code != 404 || !strings.Contains(re.Message, "nope") {
		t.Fatalf("non-JSON error body: %v", err)
	}
}

// The registry's reasons for an incompatible schema, in Confluent's own
// message shape, are picked out.
func TestIncompatibleReasonsParsed(t *testing.T) {
	msg := `Schema being registered is incompatible with an earlier schema for subject \"t-value\", details: [{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'f2' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'f2'}, {oldSchemaVersion: 1}, {compatibility: 'BACKWARD'}]`
	srv := httptest.NewServer(fixedAnswer(409, `{"error_code":409,"message":"`+msg+`"}`))
	defer srv.Close()
	c := must(schema.NewClient(srv.URL, schema.WithRetries(0)))
	_, err := c.Register(context.Background(), "t-value", avroSchema(orderV1))
	var re *schema.RegistryError
	if !errors.As(err, &re) || len(re.Reasons) != 1 ||
		re.Reasons[0] != "The field 'f2' at path '/fields/1' in the new schema has no default value and is missing in the old schema" {
		t.Fatalf("reasons not parsed: %#v", err)
	}

	// And from the in-memory registry.
	_, client := newRegistry(t)
	ctx := context.Background()
	must(client.Register(ctx, "orders-value", avroSchema(orderV1)))
	_, err = client.Register(ctx, "orders-value", avroSchema(`{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"orderId","type":"string"},{"name":"amount","type":"double"},{"name":"customerId","type":"string"}]}`))
	if !errors.As(err, &re) || len(re.Reasons) != 1 || re.Reasons[0] != "field customerId added without a default" {
		t.Fatalf("in-memory registry reasons: %#v", err)
	}
}

func TestAuth(t *testing.T) {
	ctx := context.Background()
	t.Run("basic", func(t *testing.T) {
		srv := schematest.NewServer(schematest.WithBasicAuth("key", "secret"))
		defer srv.Close()
		good := must(schema.NewClient(srv.URL(), schema.WithBasicAuth("key", "secret")))
		if _, err := good.Register(ctx, "a-value", avroSchema(orderV1)); err != nil {
			t.Fatal(err)
		}
		bad := must(schema.NewClient(srv.URL(), schema.WithBasicAuth("key", "wrong"), schema.WithRetries(0)))
		_, err := bad.Subjects(ctx)
		var re *schema.RegistryError
		if !errors.As(err, &re) || re.StatusCode != 401 {
			t.Fatalf("wrong password: %v", err)
		}
	})
	t.Run("bearer", func(t *testing.T) {
		srv := schematest.NewServer(schematest.WithBearerToken("tok"))
		defer srv.Close()
		fixed := must(schema.NewClient(srv.URL(), schema.WithBearerToken("tok")))
		if _, err := fixed.Subjects(ctx); err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int32
		source := must(schema.NewClient(srv.URL(), schema.WithBearerTokenSource(func(context.Context) (string, error) {
			calls.Add(1)
			return "tok", nil
		})))
		if _, err := source.Subjects(ctx); err != nil || calls.Load() != 1 {
			t.Fatalf("token source: err %v, %d calls", err, calls.Load())
		}
		failing := must(schema.NewClient(srv.URL(), schema.WithBearerTokenSource(func(context.Context) (string, error) {
			return "", errors.New("idp down")
		})))
		if _, err := failing.Subjects(ctx); err == nil || !strings.Contains(err.Error(), "idp down") {
			t.Fatalf("failing token source: %v", err)
		}
	})
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(schematest.NewHandler())
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c := must(schema.NewClient(srv.URL, schema.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	if _, err := c.Register(context.Background(), "a-value", avroSchema(orderV1)); err != nil {
		t.Fatalf("over TLS with the server's CA: %v", err)
	}
	untrusted := must(schema.NewClient(srv.URL, schema.WithRetries(0)))
	if _, err := untrusted.Subjects(context.Background()); err == nil {
		t.Fatal("a client without the CA trusted the server")
	}
}

func TestInvalidClientConfig(t *testing.T) {
	for name, f := range map[string]func() (*schema.Client, error){
		"bad scheme":   func() (*schema.Client, error) { return schema.NewClient("ftp://x") },
		"no host":      func() (*schema.Client, error) { return schema.NewClient("http://") },
		"nil tls":      func() (*schema.Client, error) { return schema.NewClient("http://x", schema.WithTLS(nil)) },
		"empty user":   func() (*schema.Client, error) { return schema.NewClient("http://x", schema.WithBasicAuth("", "p")) },
		"zero timeout": func() (*schema.Client, error) { return schema.NewClient("http://x", schema.WithTimeout(0)) },
		"neg retries":  func() (*schema.Client, error) { return schema.NewClient("http://x", schema.WithRetries(-1)) },
		"two auths": func() (*schema.Client, error) {
			return schema.NewClient("http://x", schema.WithBasicAuth("u", "p"), schema.WithBearerToken("t"))
		},
		"tls+client": func() (*schema.Client, error) {
			return schema.NewClient("http://x", schema.WithTLS(&tls.Config{}), schema.WithHTTPClient(&http.Client{}))
		},
		"bad backoff": func() (*schema.Client, error) {
			return schema.NewClient("http://x", schema.WithRetryBackoff(time.Second, time.Millisecond))
		},
		"nil tokensrc":   func() (*schema.Client, error) { return schema.NewClient("http://x", schema.WithBearerTokenSource(nil)) },
		"empty token":    func() (*schema.Client, error) { return schema.NewClient("http://x", schema.WithBearerToken("")) },
		"nil httpclient": func() (*schema.Client, error) { return schema.NewClient("http://x", schema.WithHTTPClient(nil)) },
	} {
		if _, err := f(); !errors.Is(err, schema.ErrInvalidConfig) {
			t.Errorf("%s: error %v, want ErrInvalidConfig", name, err)
		}
	}
}

// flaky fails the first n requests with status, then serves h.
func flaky(n int, status int, h http.Handler) (http.Handler, *atomic.Int32) {
	var seen atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if int(seen.Add(1)) <= n {
			fixedAnswer(status, `{"error_code":50001,"message":"store error"}`).ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}), &seen
}

func TestRetries(t *testing.T) {
	ctx := context.Background()
	fast := schema.WithRetryBackoff(time.Millisecond, 5*time.Millisecond)
	t.Run("5xx retried then succeeds", func(t *testing.T) {
		h, seen := flaky(2, 500, schematest.NewHandler())
		srv := httptest.NewServer(h)
		defer srv.Close()
		c := must(schema.NewClient(srv.URL, schema.WithRetries(3), fast))
		if _, err := c.Register(ctx, "a-value", avroSchema(orderV1)); err != nil {
			t.Fatal(err)
		}
		if seen.Load() != 3 {
			t.Fatalf("%d requests, want 3", seen.Load())
		}
	})
	t.Run("5xx beyond the retries fails", func(t *testing.T) {
		h, seen := flaky(10, 503, schematest.NewHandler())
		srv := httptest.NewServer(h)
		defer srv.Close()
		c := must(schema.NewClient(srv.URL, schema.WithRetries(2), fast))
		_, err := c.Subjects(ctx)
		var re *schema.RegistryError
		if !errors.As(err, &re) || re.StatusCode != 503 || seen.Load() != 3 {
			t.Fatalf("error %v after %d requests, want a 503 after 3", err, seen.Load())
		}
	})
	t.Run("4xx not retried", func(t *testing.T) {
		var seen atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.Add(1)
			fixedAnswer(404, `{"error_code":40403,"message":"Schema not found"}`).ServeHTTP(w, r)
		}))
		defer srv.Close()
		c := must(schema.NewClient(srv.URL, schema.WithRetries(3), fast))
		if _, err := c.SchemaByID(ctx, 1); !errors.Is(err, schema.ErrSchemaNotFound) || seen.Load() != 1 {
			t.Fatalf("error %v after %d requests", err, seen.Load())
		}
	})
	t.Run("network error retried", func(t *testing.T) {
		// A server that closes the first connection without answering.
		var seen atomic.Int32
		inner := schematest.NewHandler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if seen.Add(1) == 1 {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					_ = conn.Close()
				}
				return
			}
			inner.ServeHTTP(w, r)
		}))
		defer srv.Close()
		c := must(schema.NewClient(srv.URL, schema.WithRetries(2), fast))
		if _, err := c.Subjects(ctx); err != nil || seen.Load() != 2 {
			t.Fatalf("error %v after %d requests, want success after 2", err, seen.Load())
		}
	})
	t.Run("timeout per attempt", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		c := must(schema.NewClient(srv.URL, schema.WithRetries(1), fast, schema.WithTimeout(50*time.Millisecond)))
		start := time.Now()
		_, err := c.Subjects(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want a deadline error", err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Fatalf("took %v", elapsed)
		}
	})
	t.Run("caller's context stops retries", func(t *testing.T) {
		h, _ := flaky(1000, 500, schematest.NewHandler())
		srv := httptest.NewServer(h)
		defer srv.Close()
		c := must(schema.NewClient(srv.URL, schema.WithRetries(1000), schema.WithRetryBackoff(10*time.Millisecond, 10*time.Millisecond)))
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := c.Subjects(cctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want the caller's deadline", err)
		}
	})
}

func TestSerdeSteadyStateMakesNoRequests(t *testing.T) {
	srv, client := newRegistry(t)
	ctx := context.Background()
	serde := must(schema.NewAvroSerde(client, schema.WithSchema(orderV1)))
	reader := must(schema.NewAvroSerde(client))
	v := map[string]any{"orderId": "o1", "amount": 1.0}
	data := must(serde.Serialize(ctx, "orders", false, v))
	must(reader.Deserialize(ctx, "orders", false, data))
	before := srv.Requests()
	if before != 2 {
		t.Fatalf("%d requests for the first serialize and deserialize, want 2 (register, schema by ID)", before)
	}
	for range 100 {
		data = must(serde.Serialize(ctx, "orders", false, v))
		must(reader.Deserialize(ctx, "orders", false, data))
	}
	if after := srv.Requests(); after != before {
		t.Fatalf("steady state made %d requests", after-before)
	}
	// A second serde on the same client finds the IDs in the client's cache.
	serde2 := must(schema.NewAvroSerde(client, schema.WithSchema(orderV1)))
	reader2 := must(schema.NewAvroSerde(client))
	must(reader2.Deserialize(ctx, "orders", false, must(serde2.Serialize(ctx, "orders", false, v))))
	if after := srv.Requests(); after != before {
		t.Fatalf("a second serde on the same client made %d requests", after-before)
	}
}

func TestConcurrentMissesMakeOneRequest(t *testing.T) {
	inner := schematest.NewHandler()
	var byID atomic.Int32
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			byID.Add(1)
			<-gate // hold the first request until every goroutine has missed
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx := context.Background()
	writerClient := must(schema.NewClient(srv.URL))
	data := must(must(schema.NewAvroSerde(writerClient, schema.WithSchema(orderV1))).Serialize(ctx, "orders", false,
		map[string]any{"orderId": "o1", "amount": 2.0}))

	client := must(schema.NewClient(srv.URL))
	reader := must(schema.NewAvroSerde(client))
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := reader.Deserialize(ctx, "orders", false, data)
			errs <- err
		})
	}
	time.Sleep(100 * time.Millisecond) // let them pile up on the miss
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := byID.Load(); got != 1 {
		t.Fatalf("%d concurrent misses for one ID made %d requests, want 1", n, got)
	}
}

func TestCanonicalComparison(t *testing.T) {
	_, client := newRegistry(t)
	ctx := context.Background()
	id := must(client.Register(ctx, "orders-value", avroSchema(orderV1)))
	// Same schema: keys reordered, whitespace, doc, namespace spelled in the name.
	same := `{"fields":[{"type":"string","name":"orderId","doc":"id"},{"type":"double","name":"amount"}],"name":"shop.Order","type":"record"}`
	got := must(client.Lookup(ctx, "orders-value", avroSchema(same)))
	if got.ID != id {
		t.Fatalf("reordered schema looked up as ID %d, want %d", got.ID, id)
	}
	if !schema.SameSchema(avroSchema(orderV1), avroSchema(same)) {
		t.Fatal("SameSchema says no")
	}
	withDefault := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"orderId","type":"string","default":"x"},{"name":"amount","type":"double"}]}`
	if schema.SameSchema(avroSchema(orderV1), avroSchema(withDefault)) {
		t.Fatal("a schema with a default compares equal to one without")
	}
}

func TestSubjectNamesAreEscaped(t *testing.T) {
	_, client := newRegistry(t)
	ctx := context.Background()
	for _, subject := range []string{"my topic/v2-value", "ünïcode?&#-value", "shop.Order"} {
		id := must(client.Register(ctx, subject, avroSchema(orderV1)))
		got := must(client.LatestSchema(ctx, subject))
		if got.ID != id || got.Subject != subject {
			t.Errorf("subject %q: latest %+v, want ID %d", subject, got, id)
		}
	}
	subjects := must(client.Subjects(ctx))
	if len(subjects) != 3 {
		t.Fatalf("subjects %q", subjects)
	}
}

func TestBaseURLWithPathPrefix(t *testing.T) {
	inner := schematest.NewHandler()
	srv := httptest.NewServer(http.StripPrefix("/registry", inner))
	defer srv.Close()
	c := must(schema.NewClient(srv.URL + "/registry/"))
	defer c.Close()
	if _, err := c.Register(context.Background(), "a-value", avroSchema(orderV1)); err != nil {
		t.Fatal(err)
	}
}
