package table_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
	"github.com/bulwarkgo/bulwark/table"
)

type Stock struct {
	SKU      string `avro:"sku"`
	Quantity int64  `avro:"quantity"`
}

const stockSchema = `{"type":"record","name":"Stock","namespace":"shop","fields":[
	{"name":"sku","type":"string"},{"name":"quantity","type":"long"}]}`

// TestDecodedValues: with a schema serde, values are decoded as they are
// applied; a value that is not in the wire format is kept as bytes and
// reported as a DecodeError, not skipped.
func TestDecodedValues(t *testing.T) {
	ctx := testContext(t)
	registry := schematest.NewServer()
	t.Cleanup(registry.Close)
	client, err := schema.NewClient(registry.URL(), schema.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	serde, err := schema.NewStructSerde[Stock](client, stockSchema)
	if err != nil {
		t.Fatal(err)
	}
	c := newCompactedCluster(t, 1, 1)
	w := newWriter(t, c, "stock")
	for _, s := range []Stock{{"apple", 3}, {"pear", 5}, {"apple", 7}} {
		v, err := serde.Encode(ctx, "stock", false, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Put(ctx, []byte(s.SKU), v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Put(ctx, []byte("junk"), []byte("not avro")); err != nil {
		t.Fatal(err)
	}

	tb := open(t, c, "stock", table.WithDecoder(serde))
	waitReady(t, tb)
	if got, err := table.ValueOf[Stock](tb, []byte("apple")); err != nil || got != (Stock{"apple", 7}) {
		t.Errorf("apple = %+v, %v; want quantity 7", got, err)
	}
	if got, err := table.ValueOf[Stock](tb, []byte("pear")); err != nil || got.Quantity != 5 {
		t.Errorf("pear = %+v, %v", got, err)
	}
	var de *table.DecodeError
	if _, err := tb.Value([]byte("junk")); !errors.As(err, &de) || de.Offset != 3 {
		t.Errorf("junk: %v, want a DecodeError at offset 3", err)
	}
	if raw, ok := tb.Get([]byte("junk")); !ok || string(raw) != "not avro" {
		t.Errorf("junk bytes %q (present %v)", raw, ok)
	}
	if _, err := tb.Value([]byte("plum")); !errors.Is(err, table.ErrNotFound) {
		t.Errorf("plum: %v, want ErrNotFound", err)
	}
	if p := tb.Progress(); p.Undecoded != 1 {
		t.Errorf("undecoded %d, want 1", p.Undecoded)
	}
	plain := open(t, c, "stock")
	if _, err := plain.Value([]byte("apple")); !errors.Is(err, table.ErrNoDecoder) {
		t.Errorf("Value without a decoder: %v, want ErrNoDecoder", err)
	}
}

// flakyDecoder fails with a pause-class error (a registry that is down)
// until up is set.
type flakyDecoder struct {
	up    atomic.Bool
	calls atomic.Int64
}

func (d *flakyDecoder) Deserialize(_ context.Context, _ string, _ bool, data []byte) (any, error) {
	d.calls.Add(1)
	if !d.up.Load() {
		return nil, bulwark.Pause(errors.New("registry down"), 0)
	}
	return string(data), nil
}

// TestDecoderUnavailableHoldsTheRestore: a decoder failing for a reason
// that is not the record's holds the partition (retrying) instead of
// skipping or keeping the value undecoded.
func TestDecoderUnavailableHoldsTheRestore(t *testing.T) {
	c := newCompactedCluster(t, 1, 1)
	w := newWriter(t, c, "stock")
	put(t, w, "k", "v")
	d := &flakyDecoder{}
	tb := open(t, c, "stock", table.WithDecoder(d))
	ctx := testContext(t)
	for d.calls.Load() < 2 { // one retry at least
		select {
		case <-ctx.Done():
			t.Fatal("decoder not retried")
		case <-waitTick():
		}
	}
	if _, ok := tb.Get([]byte("k")); ok {
		t.Fatal("record applied while its value could not be decoded")
	}
	select {
	case <-tb.Ready():
		t.Fatal("ready while a record could not be decoded")
	default:
	}
	d.up.Store(true)
	waitReady(t, tb)
	if v, err := tb.Value([]byte("k")); err != nil || v != "v" {
		t.Errorf("k = %v, %v", v, err)
	}
	if p := tb.Progress(); p.Undecoded != 0 {
		t.Errorf("undecoded %d, want 0", p.Undecoded)
	}
}
