package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
)

// batchLog records the batches a handler received.
type batchLog struct {
	mu      sync.Mutex
	batches [][]*bulwark.Message
	handled map[string]int // value -> times in a batch that succeeded
}

func (b *batchLog) add(batch []*bulwark.Message, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches = append(b.batches, batch)
	if ok {
		for _, m := range batch {
			b.handled[string(m.Value)]++
		}
	}
}

func (b *batchLog) distinct() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.handled)
}

func TestBatchHandlerGetsOrderedBatchesPerPartition(t *testing.T) {
	cl := newCluster(t, map[string]int32{"batches": 3})
	const n = 3000
	produce(t, cl, "batches", n, func(i int) string { return strconv.Itoa(i % 50) })

	log := &batchLog{handled: map[string]int{}}
	h := BatchHandlerFunc(func(_ context.Context, batch []*bulwark.Message) error {
		log.add(batch, true)
		return nil
	})
	c, err := NewBatch(cl.Brokers(), "batch-group", []string{"batches"}, h, fastOpts(cl, WithBatchSize(64, 50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 60*time.Second, "every record", func() bool { return log.distinct() == n })
	waitFor(t, 30*time.Second, "every offset committed", func() bool { return sum(committed(t, cl, "batch-group", "batches")) == n })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	log.mu.Lock()
	defer log.mu.Unlock()
	largest := 0
	next := map[int32]int64{}
	for _, b := range log.batches {
		if len(b) > 64 {
			t.Fatalf("batch of %d records, limit 64", len(b))
		}
		largest = max(largest, len(b))
		p := b[0].Partition
		for i, m := range b {
			if m.Partition != p {
				t.Fatalf("batch spans partitions %d and %d", p, m.Partition)
			}
			if i > 0 && m.Offset != b[i-1].Offset+1 {
				t.Fatalf("partition %d: offset %d follows %d in a batch", p, m.Offset, b[i-1].Offset)
			}
		}
		if b[0].Offset != next[p] {
			t.Fatalf("partition %d: batch starts at %d, want %d (partition order)", p, b[0].Offset, next[p])
		}
		next[p] = b[len(b)-1].Offset + 1
	}
	for v, times := range log.handled {
		if times != 1 {
			t.Fatalf("record %s handled %d times without any failure", v, times)
		}
	}
	// A 3000-record backlog fills batches: anything else means records
	// were handed over one by one.
	if largest < 32 {
		t.Fatalf("largest batch %d records: the backlog was not batched", largest)
	}
}

func TestBatchHandlerLingerDeliversPartialBatch(t *testing.T) {
	cl := newCluster(t, map[string]int32{"few": 1})
	produce(t, cl, "few", 3, func(i int) string { return "k" })
	log := &batchLog{handled: map[string]int{}}
	h := BatchHandlerFunc(func(_ context.Context, batch []*bulwark.Message) error {
		log.add(batch, true)
		return nil
	})
	c, err := NewBatch(cl.Brokers(), "linger-group", []string{"few"}, h, fastOpts(cl, WithBatchSize(1000, 100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	// Three records never fill a batch of 1000: the linger closes it.
	waitFor(t, 30*time.Second, "the three records", func() bool { return log.distinct() == 3 })
	waitFor(t, 30*time.Second, "their offsets committed", func() bool { return sum(committed(t, cl, "linger-group", "few")) == 3 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestBatchHandlerFailuresDeadLetterOnlyFailingRecords(t *testing.T) {
	for name, withIndex := range map[string]bool{"BatchError": true, "plain error": false} {
		t.Run(name, func(t *testing.T) {
			cl := newCluster(t, map[string]int32{"pay": 2, "pay.dlt": 1})
			const n = 400
			produce(t, cl, "pay", n, func(i int) string { return strconv.Itoa(i) })
			poison := func(m *bulwark.Message) bool { v, _ := strconv.Atoi(string(m.Value[1:])); return v%97 == 5 }
			var transient sync.Map // value -> failed once already
			log := &batchLog{handled: map[string]int{}}
			h := BatchHandlerFunc(func(_ context.Context, batch []*bulwark.Message) error {
				for i, m := range batch {
					var err error
					switch {
					case poison(m):
						err = bulwark.Permanentf("poison %s", m.Value)
					case m.Offset%50 == 7:
						if _, again := transient.LoadOrStore(string(m.Value), true); !again {
							err = errors.New("transient")
						}
					}
					if err != nil {
						log.add(batch[:i], true) // the records before it did their work
						log.add(batch[i:], false)
						if withIndex {
							return &BatchError{Index: i, Err: err}
						}
						return fmt.Errorf("batch: %w", err)
					}
				}
				log.add(batch, true)
				return nil
			})
			c, err := NewBatch(cl.Brokers(), "pay-group", []string{"pay"}, h,
				fastOpts(cl, WithBatchSize(32, 20*time.Millisecond))...)
			if err != nil {
				t.Fatal(err)
			}
			stop := runConsumer(t, c)
			waitFor(t, 60*time.Second, "every offset committed", func() bool { return sum(committed(t, cl, "pay-group", "pay")) == n })
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			dlt, err := cl.ReadTopic(context.Background(), "pay.dlt")
			if err != nil {
				t.Fatal(err)
			}
			wantDead := 0
			for i := range n {
				if i%97 == 5 {
					wantDead++
				}
			}
			if len(dlt) != wantDead {
				t.Fatalf("%d dead letters, want %d (the poison records only)", len(dlt), wantDead)
			}
			for _, dl := range dlt {
				if !poison(dl) {
					t.Fatalf("dead letter %s is not a poison record", dl.Value)
				}
				if cause, _ := dl.Header(bulwark.HeaderDLTError); len(cause) == 0 {
					t.Fatalf("dead letter %s has no error header", dl.Value)
				}
			}
			if got := log.distinct(); got != n-wantDead {
				t.Fatalf("%d records handled, want %d: every record but the poison ones", got, n-wantDead)
			}
		})
	}
}

func TestNewBatchRejectsBadConfig(t *testing.T) {
	h := BatchHandlerFunc(func(context.Context, []*bulwark.Message) error { return nil })
	single := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { return nil })
	brokers := []string{"127.0.0.1:9"}
	cases := map[string]func() error{
		"batch size 0": func() error {
			_, err := NewBatch(brokers, "g", []string{"t"}, h, WithBatchSize(0, time.Millisecond))
			return err
		},
		"negative linger": func() error {
			_, err := NewBatch(brokers, "g", []string{"t"}, h, WithBatchSize(10, -time.Second))
			return err
		},
		"key ordering": func() error { _, err := NewBatch(brokers, "g", []string{"t"}, h, WithKeyOrdering(4)); return err },
		"middleware": func() error {
			_, err := NewBatch(brokers, "g", []string{"t"}, h, WithMiddleware(func(n bulwark.Handler) bulwark.Handler { return n }))
			return err
		},
		"batch above in-flight": func() error {
			_, err := NewBatch(brokers, "g", []string{"t"}, h, WithBatchSize(500, 0), WithMaxInFlight(100, 1<<20))
			return err
		},
		"batch size without NewBatch": func() error {
			_, err := New(brokers, "g", []string{"t"}, single, WithBatchSize(10, time.Millisecond))
			return err
		},
		"nil handler": func() error { _, err := NewBatch(brokers, "g", []string{"t"}, nil); return err },
		"batch bytes 0": func() error {
			_, err := NewBatch(brokers, "g", []string{"t"}, h, WithBatchBytes(0))
			return err
		},
		"batch bytes above in-flight": func() error {
			_, err := NewBatch(brokers, "g", []string{"t"}, h, WithBatchBytes(2<<20), WithMaxInFlight(100, 1<<20))
			return err
		},
		"batch bytes without NewBatch": func() error {
			_, err := New(brokers, "g", []string{"t"}, single, WithBatchBytes(1<<10))
			return err
		},
	}
	for name, build := range cases {
		if err := build(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: got %v, want ErrInvalidConfig", name, err)
		}
	}
	// A smaller in-flight limit lowers the default batch size instead of
	// failing.
	if _, err := NewBatch(brokers, "g", []string{"t"}, h, WithMaxInFlight(10, 1<<20)); err != nil {
		t.Errorf("default batch size with 10 records in flight: %v", err)
	}
}

// WithBatchBytes closes a batch before it would pass the byte bound; a
// record larger than the bound comes alone.
func TestBatchBytesBoundsEachBatch(t *testing.T) {
	const n, limit = 60, 350
	cl := newCluster(t, map[string]int32{"batch-bytes": 1})
	value := func(i int) []byte {
		if i == 30 {
			return make([]byte, 1000) // larger than the bound
		}
		return []byte(fmt.Sprintf("%-100d", i)) // 100 bytes
	}
	produceValues(t, cl, "batch-bytes", n, func(i int) string { return "k" }, value)
	log := &batchLog{handled: map[string]int{}}
	h := BatchHandlerFunc(func(_ context.Context, batch []*bulwark.Message) error {
		log.add(batch, true)
		return nil
	})
	c, err := NewBatch(cl.Brokers(), "batch-bytes-group", []string{"batch-bytes"}, h,
		fastOpts(cl, WithBatchSize(50, 50*time.Millisecond), WithBatchBytes(limit))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record", func() bool { return log.distinct() == n })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	largest := 0
	for _, b := range log.batches {
		size := 0
		for _, m := range b {
			size += len(m.Key) + len(m.Value)
		}
		if size > limit && len(b) > 1 {
			t.Fatalf("a batch of %d records holds %d bytes, above the bound of %d", len(b), size, limit)
		}
		largest = max(largest, len(b))
	}
	if largest != 3 {
		t.Fatalf("largest batch has %d records; 3 records of 101 bytes fit %d bytes", largest, limit)
	}
}
