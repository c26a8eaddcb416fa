package schematest_test

import (
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
