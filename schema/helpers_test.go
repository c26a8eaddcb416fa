package schema_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

// newRegistry starts an in-memory registry and a client for it.
func newRegistry(t testing.TB, opts ...schematest.Option) (*schematest.Server, *schema.Client) {
	t.Helper()
	srv := schematest.NewServer(opts...)
	t.Cleanup(srv.Close)
	c, err := schema.NewClient(srv.URL(), schema.WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return srv, c
}

// must panics on err, which fails the test with a stack trace.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// requirePermanentDecode checks the class and sentinels of a decode error.
func requirePermanentDecode(t *testing.T, err error, cause error) {
	t.Helper()
	if err == nil {
		t.Fatal("decoding succeeded, want an error")
	}
	if bulwark.ClassOf(err) != bulwark.ClassPermanent || !errors.Is(err, bulwark.ErrPermanent) {
		t.Fatalf("error %v is of class %v, want permanent", err, bulwark.ClassOf(err))
	}
	if !errors.Is(err, schema.ErrDecode) {
		t.Fatalf("error %v does not match ErrDecode", err)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("error %v does not match %v", err, cause)
	}
	var de *schema.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *DecodeError", err)
	}
}

// fakeRegistry is a map-backed schema.Registry for tests that must not
// make HTTP calls (the fuzz target).
type fakeRegistry struct {
	byID map[int]string
}

func (f *fakeRegistry) Register(context.Context, string, schema.Schema) (int, error) {
	return 0, errors.New("fake: read only")
}

func (f *fakeRegistry) Lookup(context.Context, string, schema.Schema) (schema.Schema, error) {
	return schema.Schema{}, errors.New("fake: read only")
}

func (f *fakeRegistry) SchemaByID(_ context.Context, id int) (schema.Schema, error) {
	text, ok := f.byID[id]
	if !ok {
		return schema.Schema{}, &schema.RegistryError{StatusCode: 404, Code: schema.CodeSchemaNotFound, Message: "Schema not found"}
	}
	return schema.Schema{ID: id, Type: schema.TypeAvro, Text: text}, nil
}

func (f *fakeRegistry) LatestSchema(context.Context, string) (schema.Schema, error) {
	return schema.Schema{}, errors.New("fake: read only")
}

// requireUnavailable checks that err says the registry is unavailable, as
// a pause-class error that is neither a decode nor an encode error.
func requireUnavailable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error, want the registry unavailable")
	}
	if d, ok := bulwark.PauseDelay(err); !ok || d != 0 {
		t.Fatalf("error %v is of class %v (delay %v), want pause with the consumer's delay", err, bulwark.ClassOf(err), d)
	}
	var ue *schema.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, schema.ErrRegistryUnavailable) {
		t.Fatalf("error %v is not an *UnavailableError matching ErrRegistryUnavailable", err)
	}
	if errors.Is(err, schema.ErrDecode) || errors.Is(err, schema.ErrEncode) {
		t.Fatalf("error %v blames the record", err)
	}
}

func requireEncodeError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, schema.ErrEncode) || bulwark.ClassOf(err) != bulwark.ClassPermanent {
		t.Fatalf("error %v: want ErrEncode of the permanent class", err)
	}
}

var fmtSprintf = fmt.Sprintf
