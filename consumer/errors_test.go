package consumer

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A permanent error and an exhausted retryable error both dead-letter the
// record with its key, value and headers plus the source and error headers,
// and the records behind them go on.
func TestDeadLettersKeepRecordAndDoNotBlock(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1, "in.dlt": 1})
	produce(t, cl, "in", 50, func(i int) string { return "k" + strconv.Itoa(i) },
		kgo.RecordHeader{Key: "trace", Value: []byte("abc")})
	var attemptsOf7 atomic.Int32
	rec := newRecorder(func(_ context.Context, msg *bulwark.Message) error {
		switch string(msg.Value) {
		case "v3":
			return bulwark.Permanentf("poison %s", msg.Value)
		case "v7":
			attemptsOf7.Add(1)
			return errors.New("flaky forever")
		case "v9":
			if msg.Attempt < 2 {
				return errors.New("flaky once")
			}
		}
		return nil
	})
	c, err := New(cl.Brokers(), "g-dlt", []string{"in"}, rec, fastOpts(cl, WithRetry(3, time.Millisecond, 5*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 20*time.Second, "all committed", func() bool { return committed(t, cl, "g-dlt", "in")[0] == 50 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if rec.distinct() != 50 {
		t.Fatalf("handled %d distinct records, want 50", rec.distinct())
	}
	if got := attemptsOf7.Load(); got != 3 {
		t.Fatalf("v7 attempts = %d, want 3", got)
	}
	dlts, err := cl.ReadTopic(context.Background(), "in.dlt")
	if err != nil {
		t.Fatal(err)
	}
	if len(dlts) != 2 {
		t.Fatalf("dead letters = %d, want 2", len(dlts))
	}
	want := []struct {
		value, class, attempts, offset string
	}{{"v3", "permanent", "1", "3"}, {"v7", "retryable", "3", "7"}}
	for i, dl := range dlts {
		w := want[i]
		if string(dl.Value) != w.value || string(dl.Key) != "k"+w.offset {
			t.Fatalf("dead letter %d: key %q value %q", i, dl.Key, dl.Value)
		}
		for k, v := range map[string]string{
			"trace":                     "abc",
			bulwark.HeaderDLTTopic:      "in",
			bulwark.HeaderDLTPartition:  "0",
			bulwark.HeaderDLTOffset:     w.offset,
			bulwark.HeaderDLTErrorClass: w.class,
			bulwark.HeaderDLTAttempts:   w.attempts,
		} {
			if got, _ := dl.Header(k); string(got) != v {
				t.Fatalf("dead letter %s: header %s = %q, want %q", w.value, k, got, v)
			}
		}
		if e, _ := dl.Header(bulwark.HeaderDLTError); len(e) == 0 {
			t.Fatalf("dead letter %s has no error header", w.value)
		}
	}
	st := c.Stats()
	if st.DeadLettered != 2 || st.Retried < 3 {
		t.Fatalf("stats: dead-lettered %d retried %d", st.DeadLettered, st.Retried)
	}
}

// While the dead-letter topic cannot be written, the record is not
// committed; once it can, the consumer writes it and moves on.
func TestDeadLetterFailureKeepsRecordUncommitted(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1})
	produce(t, cl, "in", 10, nil)
	rec := newRecorder(func(_ context.Context, msg *bulwark.Message) error {
		if string(msg.Value) == "v4" {
			return bulwark.Permanentf("poison")
		}
		return nil
	})
	c, err := New(cl.Brokers(), "g-dltfail", []string{"in"}, rec, fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 20*time.Second, "commit up to the poison record", func() bool { return committed(t, cl, "g-dltfail", "in")[0] == 4 })
	time.Sleep(time.Second) // the dead letter keeps failing: no commit past 4
	if got := committed(t, cl, "g-dltfail", "in")[0]; got != 4 {
		t.Fatalf("committed %d while the dead letter could not be written", got)
	}
	if err := cl.CreateTopic(context.Background(), "in.dlt", 1, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "commit of all 10", func() bool { return committed(t, cl, "g-dltfail", "in")[0] == 10 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dlts, err := cl.ReadTopic(context.Background(), "in.dlt")
	if err != nil {
		t.Fatal(err)
	}
	if len(dlts) < 1 || string(dlts[0].Value) != "v4" {
		t.Fatalf("dead letters: %v", dlts)
	}
}

// A pause-class error pauses the partition without commit or dead letter
// and retries the record after the delay.
func TestPauseClassRetriesAfterDelayWithoutDeadLetter(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1, "in.dlt": 1})
	produce(t, cl, "in", 20, nil)
	var pausedAt atomic.Int64
	var pauses atomic.Int32
	rec := newRecorder(func(_ context.Context, msg *bulwark.Message) error {
		if string(msg.Value) == "v5" && pauses.Load() < 3 {
			pauses.Add(1)
			pausedAt.CompareAndSwap(0, time.Now().UnixNano())
			return bulwark.Pause(errors.New("breaker open"), 200*time.Millisecond)
		}
		return nil
	})
	c, err := New(cl.Brokers(), "g-pause", []string{"in"}, rec, fastOpts(cl, WithRetry(1, 0, 0))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the pause", func() bool { return pauses.Load() >= 1 })
	waitFor(t, 5*time.Second, "fetch paused", func() bool {
		st := c.Stats()
		return len(st.Partitions) == 1 && st.Partitions[0].Paused
	})
	if got := committed(t, cl, "g-pause", "in")[0]; got > 5 {
		t.Fatalf("committed %d past the paused record", got)
	}
	waitFor(t, 20*time.Second, "all committed", func() bool { return committed(t, cl, "g-pause", "in")[0] == 20 })
	elapsed := time.Since(time.Unix(0, pausedAt.Load()))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if pauses.Load() != 3 || elapsed < 600*time.Millisecond {
		t.Fatalf("pauses %d, finished %v after the first (want 3 pauses of 200ms)", pauses.Load(), elapsed)
	}
	// v6 must not have been handled before v5 succeeded.
	rec.mu.Lock()
	var order []string
	for _, m := range rec.order {
		order = append(order, string(m.Value))
	}
	rec.mu.Unlock()
	for i, v := range order {
		if v == "v6" {
			if order[i-1] != "v5" {
				t.Fatalf("v6 handled after %s, want right after v5 succeeded: %v", order[i-1], order)
			}
			break
		}
	}
	// Pause-class returns are counted as pauses, not as failures.
	if st := c.Stats(); st.DeadLettered != 0 || st.Paused != 3 || st.Failed != 0 {
		t.Fatalf("dead-lettered %d, paused %d, failed %d; want 0, 3, 0", st.DeadLettered, st.Paused, st.Failed)
	}
	if dlts, _ := cl.ReadTopic(context.Background(), "in.dlt"); len(dlts) != 0 {
		t.Fatalf("pause class wrote %d dead letters", len(dlts))
	}
}

// Two groups reading the same topic share its default dead-letter topic;
// each dead letter names the group that wrote it.
func TestDeadLettersNameTheGroup(t *testing.T) {
	cl := newCluster(t, map[string]int32{"in": 1, "in.dlt": 1})
	produce(t, cl, "in", 10, nil)
	rejecting := func(value string) bulwark.Handler {
		return bulwark.HandlerFunc(func(_ context.Context, msg *bulwark.Message) error {
			if string(msg.Value) == value {
				return bulwark.Permanentf("rejected %s", msg.Value)
			}
			return nil
		})
	}
	for group, value := range map[string]string{"g-billing": "v2", "g-audit": "v5"} {
		c, err := New(cl.Brokers(), group, []string{"in"}, rejecting(value), fastOpts(cl)...)
		if err != nil {
			t.Fatal(err)
		}
		stop := runConsumer(t, c)
		waitFor(t, 20*time.Second, group+" committed", func() bool { return committed(t, cl, group, "in")[0] == 10 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	dlts, err := cl.ReadTopic(context.Background(), "in.dlt")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, dl := range dlts {
		g, _ := dl.Header(bulwark.HeaderDLTGroup)
		got[string(dl.Value)] = string(g)
	}
	if want := map[string]string{"v2": "g-billing", "v5": "g-audit"}; !maps.Equal(got, want) {
		t.Fatalf("dead letters by value and group %v, want %v", got, want)
	}
}
