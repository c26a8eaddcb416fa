package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
)

func batchOf(n int) []*bulwark.Message {
	msgs := make([]*bulwark.Message, n)
	for i := range msgs {
		msgs[i] = &bulwark.Message{Topic: "t", Offset: int64(i), Value: []byte(fmt.Sprint(i))}
	}
	return msgs
}

// batchRecorder is a batch handler failing records whose offset is in
// poison (permanently) and recording every call's offsets.
type batchRecorder struct {
	calls  [][]int64
	poison map[int64]bool
	// errFor decides the error of a batch holding poison at index i.
	errFor func(i int, err error) error
	// failFirst fails the first n calls with a retryable error.
	failFirst int
}

func (b *batchRecorder) handle(_ context.Context, batch []*bulwark.Message) error {
	var offs []int64
	for _, m := range batch {
		offs = append(offs, m.Offset)
	}
	b.calls = append(b.calls, offs)
	if len(b.calls) <= b.failFirst {
		return errors.New("transient")
	}
	for i, m := range batch {
		if b.poison[m.Offset] {
			return b.errFor(i, bulwark.Permanentf("poison %d", m.Offset))
		}
	}
	return nil
}

func (b *batchRecorder) single() bulwark.Handler {
	return bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
		return b.handle(ctx, []*bulwark.Message{m})
	})
}

func results(outs []Outcome) []Result {
	r := make([]Result, len(outs))
	for i, o := range outs {
		r[i] = o.Result
	}
	return r
}

func deadLetteredOffsets(t *testing.T, f *fakeEnv) []string {
	t.Helper()
	var offs []string
	for _, dl := range f.deadLetters {
		v, _ := dl.Header(bulwark.HeaderDLTOffset)
		offs = append(offs, string(v))
	}
	return offs
}

func TestDeliverBatchHandlesWholeBatch(t *testing.T) {
	b := &batchRecorder{}
	f := &fakeEnv{now: time.Unix(0, 0)}
	outs := DeliverBatch(context.Background(), b.handle, b.single(), batchOf(5), policy(3), f.env())
	if want := []Result{Handled, Handled, Handled, Handled, Handled}; !slices.Equal(results(outs), want) {
		t.Fatalf("results %v, want %v", results(outs), want)
	}
	if len(b.calls) != 1 || len(b.calls[0]) != 5 {
		t.Fatalf("calls %v, want one call with 5 records", b.calls)
	}
}

func TestDeliverBatchRetriesWholeBatch(t *testing.T) {
	b := &batchRecorder{failFirst: 2}
	f := &fakeEnv{now: time.Unix(0, 0)}
	msgs := batchOf(3)
	outs := DeliverBatch(context.Background(), b.handle, b.single(), msgs, policy(5), f.env())
	if want := []Result{Handled, Handled, Handled}; !slices.Equal(results(outs), want) {
		t.Fatalf("results %v, want %v", results(outs), want)
	}
	if len(b.calls) != 3 {
		t.Fatalf("%d calls, want 3 (two failures, one success)", len(b.calls))
	}
	if msgs[0].Attempt != 3 || msgs[2].Attempt != 3 {
		t.Fatalf("attempts %d/%d, want 3 on every record", msgs[0].Attempt, msgs[2].Attempt)
	}
	if f.now.Sub(time.Unix(0, 0)) <= 0 {
		t.Fatal("no backoff between attempts")
	}
}

func TestDeliverBatchErrorIndexDeadLettersThatRecordOnly(t *testing.T) {
	b := &batchRecorder{poison: map[int64]bool{2: true},
		errFor: func(i int, err error) error { return &BatchError{Index: i, Err: err} }}
	f := &fakeEnv{now: time.Unix(0, 0)}
	outs := DeliverBatch(context.Background(), b.handle, b.single(), batchOf(5), policy(3), f.env())
	if want := []Result{Handled, Handled, DeadLettered, Handled, Handled}; !slices.Equal(results(outs), want) {
		t.Fatalf("results %v, want %v", results(outs), want)
	}
	// [0..4] fails at 2 -> 0,1 done; [2..4] fails at 0 (permanent) -> 2
	// dead-lettered; [3,4] handled. Records 0 and 1 run once.
	want := [][]int64{{0, 1, 2, 3, 4}, {2, 3, 4}, {3, 4}}
	if !slices.EqualFunc(b.calls, want, slices.Equal) {
		t.Fatalf("calls %v, want %v", b.calls, want)
	}
	if got := deadLetteredOffsets(t, f); !slices.Equal(got, []string{"2"}) {
		t.Fatalf("dead letters %v, want [2]", got)
	}
	if cause, _ := f.deadLetters[0].Header(bulwark.HeaderDLTError); len(cause) == 0 {
		t.Fatal("dead letter without its error header")
	}
}

func TestDeliverBatchPlainErrorFallsBackToSingleRecords(t *testing.T) {
	b := &batchRecorder{poison: map[int64]bool{1: true, 3: true},
		errFor: func(_ int, err error) error { return fmt.Errorf("batch failed: %w", err) }}
	f := &fakeEnv{now: time.Unix(0, 0)}
	outs := DeliverBatch(context.Background(), b.handle, b.single(), batchOf(5), policy(3), f.env())
	if want := []Result{Handled, DeadLettered, Handled, DeadLettered, Handled}; !slices.Equal(results(outs), want) {
		t.Fatalf("results %v, want %v", results(outs), want)
	}
	if got := deadLetteredOffsets(t, f); !slices.Equal(got, []string{"1", "3"}) {
		t.Fatalf("dead letters %v, want [1 3]", got)
	}
	// One batch call, then one call per record.
	if len(b.calls) != 6 {
		t.Fatalf("calls %v, want the batch then 5 single records", b.calls)
	}
}

func TestDeliverBatchPauseThenResume(t *testing.T) {
	calls := 0
	h := func(context.Context, []*bulwark.Message) error {
		calls++
		if calls <= 3 {
			return bulwark.Pause(errors.New("breaker open"), time.Second)
		}
		return nil
	}
	f := &fakeEnv{now: time.Unix(0, 0)}
	outs := DeliverBatch(context.Background(), h, nil, batchOf(4), policy(1), f.env())
	if want := []Result{Handled, Handled, Handled, Handled}; !slices.Equal(results(outs), want) {
		t.Fatalf("results %v, want %v (a pause must not use up attempts)", results(outs), want)
	}
	if f.pauses != 1 || f.resumes != 1 {
		t.Fatalf("pauses %d resumes %d, want 1 and 1", f.pauses, f.resumes)
	}
	if len(f.deadLetters) != 0 {
		t.Fatalf("%d dead letters during a pause", len(f.deadLetters))
	}
}

func TestDeliverBatchAbandonedWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h := func(context.Context, []*bulwark.Message) error {
		cancel()
		return errors.New("interrupted")
	}
	f := &fakeEnv{now: time.Unix(0, 0)}
	outs := DeliverBatch(ctx, h, nil, batchOf(3), policy(3), f.env())
	for i, o := range outs {
		if o.Finished() {
			t.Fatalf("record %d finished (%v) after its context ended", i, o.Result)
		}
	}
	if len(f.deadLetters) != 0 {
		t.Fatal("dead-lettered after the context ended")
	}
}

func TestDeliverBatchUnwrittenDeadLetterLeavesRestUnfinished(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := &batchRecorder{poison: map[int64]bool{0: true},
		errFor: func(i int, err error) error { return &BatchError{Index: i, Err: err} }}
	f := &fakeEnv{now: time.Unix(0, 0)}
	env := f.env()
	env.DeadLetter = func(context.Context, *bulwark.Message) error {
		cancel() // the consumer stops while the dead-letter topic is down
		return errors.New("dead-letter topic unavailable")
	}
	outs := DeliverBatch(ctx, b.handle, b.single(), batchOf(3), policy(1), env)
	for i, o := range outs {
		if o.Finished() {
			t.Fatalf("record %d finished (%v) though record 0's dead letter was never written", i, o.Result)
		}
	}
}
