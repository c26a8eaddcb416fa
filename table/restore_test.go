package table_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/table"
)

// TestRestoreCompactedTopicEqualsModel writes updates with overwrites and
// tombstones over 6 partitions, lets the broker compact the topic, and
// restores it: the table must equal the model built from the writes. The
// count is BULWARK_TABLE_RECORDS (default 100k; set it lower for quick runs).
func TestRestoreCompactedTopicEqualsModel(t *testing.T) {
	n := envInt(t, "BULWARK_TABLE_RECORDS", 100_000)
	c := newCompactedCluster(t, 3, 6)
	w := newWorkload("stock", n, n/10, 1)
	write(t, newProducer(t, c), w.msgs)

	// Before compaction: every record is read.
	before := open(t, c, "stock")
	waitReady(t, before)
	requireView(t, before, w.model)
	if p := before.Progress(); p.Records != int64(n) {
		t.Errorf("restore of the uncompacted topic read %d records, %d were written", p.Records, n)
	}
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}

	c.Kfake().Compact()

	tb := open(t, c, "stock")
	waitReady(t, tb)
	requireView(t, tb, w.model)
	p := tb.Progress()
	if !p.Ready || p.Restored != 6 || len(p.Partitions) != 6 {
		t.Errorf("progress after ready: %+v", p)
	}
	// Compaction must have happened, or this test proves nothing about
	// restoring a compacted topic: fewer records read than written.
	if p.Records >= int64(n) {
		t.Errorf("restore read %d records of %d written: the topic was not compacted", p.Records, n)
	}
	if p.Bytes <= 0 || p.Keys != len(w.model) {
		t.Errorf("progress bytes %d keys %d, want > 0 and %d", p.Bytes, p.Keys, len(w.model))
	}
	t.Logf("wrote %d updates over %d keys; restored %d records (%d bytes) into %d keys", n, n/10, p.Records, p.Bytes, p.Keys)
}

// TestOpenNeverAnsweringFailsWithinContext: a listener that accepts and
// never answers fails Open with a typed connect error once ctx ends, not
// after the connect timeout.
func TestOpenNeverAnsweringFailsWithinContext(t *testing.T) {
	addr := kafkatest.NeverAnswering(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	tb, err := table.Open(ctx, []string{addr}, "stock", table.WithConnection(conn.WithConnectTimeout(time.Minute)))
	if err == nil {
		_ = tb.Close()
		t.Fatal("Open succeeded against a listener that never answers")
	}
	var ce *conn.ConnectError
	if !errors.As(err, &ce) || !errors.Is(err, conn.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open: %v (%T), want a *conn.ConnectError matching conn.ErrUnreachable and ctx's error", err, err)
	}
	if bulwark.ClassOf(err) != bulwark.ClassPause {
		t.Errorf("class %v, want pause", bulwark.ClassOf(err))
	}
}

func TestOpenMissingTopic(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1))
	tb, err := table.Open(testContext(t), c.Brokers(), "nope")
	if err == nil {
		_ = tb.Close()
		t.Fatal("Open succeeded on a missing topic")
	}
	if !errors.Is(err, table.ErrUnknownTopic) {
		t.Fatalf("Open: %v, want ErrUnknownTopic", err)
	}
}

func TestOpenRejectsBadArguments(t *testing.T) {
	ctx := testContext(t)
	for name, call := range map[string]func() error{
		"no topic":   func() error { _, err := table.Open(ctx, []string{"127.0.0.1:1"}, ""); return err },
		"no brokers": func() error { _, err := table.Open(ctx, nil, "t"); return err },
		"nil decoder": func() error {
			_, err := table.Open(ctx, []string{"127.0.0.1:1"}, "t", table.WithDecoder(nil))
			return err
		},
		"nil callback": func() error {
			_, err := table.Open(ctx, []string{"127.0.0.1:1"}, "t", table.WithOnChange(nil))
			return err
		},
		"no partitions": func() error {
			_, err := table.Open(ctx, []string{"127.0.0.1:1"}, "t", table.WithPartitions())
			return err
		},
		"nil logger": func() error {
			_, err := table.Open(ctx, []string{"127.0.0.1:1"}, "t", table.WithLogger(nil))
			return err
		},
		"bad conn option": func() error {
			_, err := table.Open(ctx, []string{"127.0.0.1:1"}, "t", table.WithConnection(conn.WithDialTimeout(-1)))
			return err
		},
	} {
		if err := call(); !errors.Is(err, table.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// TestOpenHungBrokerFailsWithinContext: a broker that holds the client's
// metadata request fails Open with a typed connect error once ctx ends.
func TestOpenHungBrokerFailsWithinContext(t *testing.T) {
	c := newCompactedCluster(t, 1, 1)
	arrived, release := c.HoldNext(kafkatest.Metadata)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	tb, err := table.Open(ctx, c.Brokers(), "stock")
	if err == nil {
		_ = tb.Close()
		t.Fatal("Open succeeded while the broker held its metadata request")
	}
	<-arrived
	var ce *conn.ConnectError
	if !errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open: %v (%T), want a *conn.ConnectError matching ctx's error", err, err)
	}
}
