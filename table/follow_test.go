package table_test

import (
	"bytes"
	"slices"
	"sync"
	"testing"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/table"
)

// changes records what a change callback sees.
type changes struct {
	mu   sync.Mutex
	seen []change
	// notify gets a token after each change, without blocking.
	notify chan struct{}
}

type change struct{ key, old, new string }

func newChanges() *changes { return &changes{notify: make(chan struct{}, 1)} }

func (c *changes) record(key, old, new []byte) {
	c.mu.Lock()
	c.seen = append(c.seen, change{string(key), nilOr(old), nilOr(new)})
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// nilOr tells a nil slice ("<nil>") from an empty one.
func nilOr(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return string(b)
}

func (c *changes) snapshot() []change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

// waitFor waits until the table's progress shows records applied.
func waitRecords(t *testing.T, tb *table.Table, records int64) {
	t.Helper()
	ctx := testContext(t)
	for tb.Progress().Records < records {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d records: %+v", records, tb.Progress())
		case <-waitTick():
		}
	}
}

// TestFollowSeesLaterWritesInOrderPerKey: after the restore, a table
// applies later writes, and its change callback sees each key's writes in
// the order they were written.
func TestFollowSeesLaterWritesInOrderPerKey(t *testing.T) {
	c := newCompactedCluster(t, 3, 6)
	p := newProducer(t, c)
	restored := newWorkload("stock", 1000, 100, 3)
	write(t, p, restored.msgs)

	ch := newChanges()
	tb := open(t, c, "stock", table.WithOnChange(ch.record))
	waitReady(t, tb)
	requireView(t, tb, restored.model)
	atReady := len(ch.snapshot())

	later := newWorkload("stock", 2000, 50, 4)
	write(t, p, later.msgs)
	waitRecords(t, tb, int64(len(restored.msgs)+len(later.msgs)))

	// The model after both, and per key the values written later, in order.
	want := restored.model
	perKey := map[string][]string{}
	for _, m := range later.msgs {
		k := string(m.Key)
		if m.Value == nil {
			if _, had := want[k]; had {
				perKey[k] = append(perKey[k], "<nil>")
			}
			delete(want, k)
			continue
		}
		want[k] = m.Value
		perKey[k] = append(perKey[k], string(m.Value))
	}
	requireView(t, tb, want)
	got := map[string][]string{}
	for _, c := range ch.snapshot()[atReady:] {
		got[c.key] = append(got[c.key], c.new)
	}
	for k, w := range perKey {
		if !slices.Equal(got[k], w) {
			t.Errorf("key %s: changes %q, written %q", k, got[k], w)
		}
	}
	if len(got) != len(perKey) {
		t.Errorf("changes for %d keys, writes changed %d", len(got), len(perKey))
	}
}

// TestChangeCallbackSeesEveryChange: new keys, overwrites (also with the
// same bytes and with an empty value), deletes; a tombstone for an absent
// key is no change.
func TestChangeCallbackSeesEveryChange(t *testing.T) {
	c := newCompactedCluster(t, 1, 1)
	w := newWriter(t, c, "stock")
	ctx := testContext(t)
	put := func(k, v string) { t.Helper(); put(t, w, k, v) }
	del := func(k string) {
		t.Helper()
		if _, err := w.Delete(ctx, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	put("a", "1") // restored
	put("b", "1")
	del("b")
	del("never")

	ch := newChanges()
	tb := open(t, c, "stock", table.WithOnChange(ch.record))
	waitReady(t, tb)
	put("a", "2")
	put("a", "2")
	put("c", "<nil>") // Put of nil writes an empty value, not a tombstone
	del("a")
	del("a")
	put("a", "3")
	waitRecords(t, tb, 10)

	want := []change{
		{"a", "<nil>", "1"}, {"b", "<nil>", "1"}, {"b", "1", "<nil>"},
		{"a", "1", "2"}, {"a", "2", "2"}, {"c", "<nil>", ""}, {"a", "2", "<nil>"}, {"a", "<nil>", "3"},
	}
	if got := ch.snapshot(); !slices.Equal(got, want) {
		t.Errorf("changes\n got %v\nwant %v", got, want)
	}
	if v, ok := tb.Get([]byte("c")); !ok || v == nil || len(v) != 0 {
		t.Errorf("c = %q (present %v), want an empty value", v, ok)
	}
	if _, err := w.Put(ctx, nil, []byte("x")); err == nil {
		t.Error("Put with a nil key succeeded")
	}
}

// TestCrashAndReopenRestoresSameView: a table whose connections die and
// that is closed without anything else (as a crash leaves it), then
// opened again, restores the same view, including what was written while
// it followed.
func TestCrashAndReopenRestoresSameView(t *testing.T) {
	c := newCompactedCluster(t, 3, 6)
	p := newProducer(t, c)
	first := newWorkload("stock", 3000, 300, 5)
	write(t, p, first.msgs)

	d := kafkatest.NewDialer()
	tb := open(t, c, "stock", table.WithConnection(conn.WithDialer(d)))
	waitReady(t, tb)
	second := newWorkload("stock", 1000, 300, 6)
	write(t, p, second.msgs)
	waitRecords(t, tb, int64(len(first.msgs)+len(second.msgs)))
	view := map[string][]byte{}
	for k, v := range tb.All() {
		view[string(k)] = bytes.Clone(v)
	}
	d.Kill()
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tb.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	model := first.model
	for _, m := range second.msgs {
		if m.Value == nil {
			delete(model, string(m.Key))
		} else {
			model[string(m.Key)] = m.Value
		}
	}
	if len(view) != len(model) {
		t.Fatalf("followed view has %d keys, model %d", len(view), len(model))
	}
	c.Kfake().Compact()
	again := open(t, c, "stock")
	waitReady(t, again)
	requireView(t, again, view)
	requireView(t, again, model)
}
