package schematest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

func TestClientAgainstServerPassesSuite(t *testing.T) {
	schematest.RunRegistrySuite(t, func(t *testing.T) schematest.Registry {
		srv := schematest.NewServer()
		t.Cleanup(srv.Close)
		c, err := schema.NewClient(srv.URL(), schema.WithRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	})
}

// The client refuses an invalid level before sending it, so the server's
// own check is exercised over raw HTTP: a registry answers 422 / 42203.
func TestServerRejectsInvalidCompatibilityLevel(t *testing.T) {
	srv := schematest.NewServer()
	t.Cleanup(srv.Close)
	for _, path := range []string{"/config", "/config/orders-value"} {
		req, err := http.NewRequest(http.MethodPut, srv.URL()+path, strings.NewReader(`{"compatibility":"SIDEWAYS"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			ErrorCode int    `json:"error_code"`
			Message   string `json:"message"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnprocessableEntity || body.ErrorCode != schema.CodeInvalidCompatibility || body.Message == "" {
			t.Fatalf("PUT %s SIDEWAYS = %d %+v, want 422 with error_code %d", path, resp.StatusCode, body, schema.CodeInvalidCompatibility)
		}
	}
	c, err := schema.NewClient(srv.URL(), schema.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	level, err := c.Compatibility(context.Background(), "")
	if err != nil || level != schema.CompatBackward {
		t.Fatalf("global level after rejected PUTs = %q, %v; want BACKWARD unchanged", level, err)
	}
}
