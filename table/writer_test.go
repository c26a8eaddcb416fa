package table_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/table"
)

type recordingEmitter struct{ msgs []*bulwark.Message }

func (r *recordingEmitter) Emit(m *bulwark.Message) { r.msgs = append(r.msgs, m) }

func TestEmitHelpersBuildUpdatesAndTombstones(t *testing.T) {
	var out recordingEmitter
	if err := table.Put(&out, "stock", []byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := table.Put(&out, "stock", []byte("b"), nil); err != nil {
		t.Fatal(err)
	}
	if err := table.Delete(&out, "stock", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := table.Put(&out, "stock", nil, []byte("x")); !errors.Is(err, table.ErrNilKey) || bulwark.ClassOf(err) != bulwark.ClassPermanent {
		t.Errorf("Put with nil key: %v (class %v), want permanent ErrNilKey", err, bulwark.ClassOf(err))
	}
	if err := table.Delete(&out, "stock", nil); !errors.Is(err, table.ErrNilKey) {
		t.Errorf("Delete with nil key: %v", err)
	}
	if len(out.msgs) != 3 {
		t.Fatalf("emitted %d records, want 3", len(out.msgs))
	}
	for i, want := range []struct {
		key   string
		value []byte
	}{{"a", []byte("1")}, {"b", []byte{}}, {"a", nil}} {
		m := out.msgs[i]
		if m.Topic != "stock" || string(m.Key) != want.key || (m.Value == nil) != (want.value == nil) || string(m.Value) != string(want.value) {
			t.Errorf("record %d: %+v, want key %s value %q", i, m, want.key, want.value)
		}
	}
	if _, err := table.NewWriter(nil, "stock"); !errors.Is(err, table.ErrInvalidConfig) {
		t.Errorf("NewWriter(nil): %v", err)
	}
}

// TestEOSHandlerUpdatesTable: an eos handler's table updates commit with
// its input offsets; a table following the topic sees them.
func TestEOSHandlerUpdatesTable(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTopic("orders", 1))
	compactedTopic(t, c, "stock", 3)
	p := newProducer(t, c)
	var orders []*bulwark.Message
	for i := range 20 {
		orders = append(orders, &bulwark.Message{Topic: "orders", Key: fmt.Appendf(nil, "sku-%d", i%5), Value: fmt.Appendf(nil, "%d", i)})
	}
	write(t, p, orders)

	tb := open(t, c, "stock")
	waitReady(t, tb)
	h := eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
		if string(in.Value) == "19" { // the last order of sku-4 sells it out
			return table.Delete(out, "stock", in.Key)
		}
		return table.Put(out, "stock", in.Key, in.Value)
	})
	s, err := eos.New(c.Brokers(), "stocker", []string{"orders"}, "stocker", h,
		eos.WithInstanceID("0"), eos.WithSessionTimeout(6*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitRecords(t, tb, 20)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	requireView(t, tb, map[string][]byte{"sku-0": []byte("15"), "sku-1": []byte("16"), "sku-2": []byte("17"), "sku-3": []byte("18")})
}
