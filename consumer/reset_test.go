package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceAt writes records "v<i>" for i in [from, to) to partition i%2 of
// topic, each with timestamp at.
func produceAt(t *testing.T, cl *kafkatest.Cluster, topic string, from, to int, at time.Time) {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(cl.Brokers()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: at})
	}
	if err := client.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// A stopped group reset to a time consumes again from the first record at
// or after it, and only from there.
func TestResetOffsetsToTimestampReplaysFromThere(t *testing.T) {
	const topic, group = "replay", "replay-group"
	cl := newCluster(t, map[string]int32{topic: 2})
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	produceAt(t, cl, topic, 0, 10, t0)
	produceAt(t, cl, topic, 10, 20, t0.Add(time.Hour))

	first := newRecorder(nil)
	c, err := New(cl.Brokers(), group, []string{topic}, first, fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "everything committed", func() bool { return sum(committed(t, cl, group, topic)) == 20 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	offs, err := ResetOffsets(context.Background(), cl.Brokers(), group, topic, ToTimestamp(t0.Add(30*time.Minute)), cl.ConnOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int32]int64{0: 5, 1: 5}; fmt.Sprint(offs) != fmt.Sprint(want) {
		t.Fatalf("reset to %v, want %v", offs, want)
	}
	if got := committed(t, cl, group, topic); fmt.Sprint(got) != fmt.Sprint(offs) {
		t.Fatalf("committed %v after the reset to %v", got, offs)
	}

	replay := newRecorder(nil)
	c2, err := New(cl.Brokers(), group, []string{topic}, replay, fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	stop2 := runConsumer(t, c2)
	waitFor(t, 30*time.Second, "the replay committed", func() bool { return sum(committed(t, cl, group, topic)) == 20 })
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	replay.mu.Lock()
	defer replay.mu.Unlock()
	var got []string
	for _, m := range replay.order {
		got = append(got, string(m.Value))
	}
	slices.Sort(got)
	var want []string
	for i := 10; i < 20; i++ {
		want = append(want, fmt.Sprintf("v%d", i))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("replayed %v, want the records at or after the time: %v", got, want)
	}
}

// A group with a live member is not reset: the error says so, typed, and
// the committed offsets stay.
func TestResetOffsetsRefusesALiveGroup(t *testing.T) {
	const topic, group = "reset-live", "reset-live-group"
	cl := newCluster(t, map[string]int32{topic: 2})
	produceAt(t, cl, topic, 0, 10, time.Now())
	c, err := New(cl.Brokers(), group, []string{topic}, bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { return nil }), fastOpts(cl)...)
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, c)
	waitFor(t, 30*time.Second, "everything committed", func() bool { return sum(committed(t, cl, group, topic)) == 10 })

	_, err = ResetOffsets(context.Background(), cl.Brokers(), group, topic, ToEarliest(), cl.ConnOptions()...)
	var active *GroupActiveError
	if !errors.As(err, &active) || !errors.Is(err, ErrGroupActive) || active.Group != group {
		t.Fatalf("ResetOffsets of a live group: %v, want a *GroupActiveError", err)
	}
	if got := sum(committed(t, cl, group, topic)); got != 10 {
		t.Fatalf("committed offsets moved to a sum of %d", got)
	}
}

func TestResetOffsetsRejectsBadArguments(t *testing.T) {
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"no position": func() error { _, err := ResetOffsets(ctx, []string{"127.0.0.1:1"}, "g", "t", Position{}); return err },
		"no group":    func() error { _, err := ResetOffsets(ctx, []string{"127.0.0.1:1"}, "", "t", ToLatest()); return err },
		"no brokers":  func() error { _, err := ResetOffsets(ctx, nil, "g", "t", ToLatest()); return err },
	} {
		if err := call(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// WithStartAt positions a partition without a committed offset: the
// records before the time are never handled, and the position is
// committed.
func TestStartAtTimestampForPartitionsWithoutOffsets(t *testing.T) {
	const topic, group = "start-at", "start-at-group"
	cl := newCluster(t, map[string]int32{topic: 2})
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	produceAt(t, cl, topic, 0, 10, t0)
	produceAt(t, cl, topic, 10, 20, t0.Add(time.Hour))
	rec := newRecorder(nil)
	var asked []int32
	var mu sync.Mutex
	c, err := New(cl.Brokers(), group, []string{topic}, rec, fastOpts(cl, WithStartAt(func(tp bulwark.TopicPartition) Position {
		mu.Lock()
		asked = append(asked, tp.Partition)
		mu.Unlock()
		if tp.Partition == 1 {
			return Position{} // the default: the oldest
		}
		return ToTimestamp(t0.Add(30 * time.Minute))
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	waitFor(t, 30*time.Second, "everything committed", func() bool {
		offs := committed(t, cl, group, topic)
		return offs[0] == 10 && offs[1] == 10
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for v := range rec.seen {
		got = append(got, v)
	}
	slices.Sort(got)
	var want []string
	for i := 0; i < 20; i++ {
		if i%2 == 1 || i >= 10 {
			want = append(want, fmt.Sprintf("v%d", i))
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v (partition 0 from the time, partition 1 from the start)", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Sort(asked); !slices.Equal(asked, []int32{0, 1}) {
		t.Fatalf("WithStartAt asked for %v, want each partition once", asked)
	}
}
