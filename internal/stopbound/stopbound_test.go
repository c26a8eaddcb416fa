package stopbound

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// A result that is already there is returned at once, without a cut,
// whether or not the context has ended.
func TestWaitReturnsResultAtOnce(t *testing.T) {
	want := errors.New("boom")
	for _, ended := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		if ended {
			cancel()
		}
		result := make(chan error, 1)
		result <- want
		var cuts atomic.Int32
		start := time.Now()
		err := Wait(ctx, result, time.Minute, time.Second, func() { cuts.Add(1) }, quiet, "test")
		cancel()
		if !errors.Is(err, want) {
			t.Fatalf("ended=%v: err = %v, want %v", ended, err, want)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Fatalf("ended=%v: took %v with the result ready", ended, d)
		}
		if n := cuts.Load(); n != 0 {
			t.Fatalf("ended=%v: cut called %d times, want 0", ended, n)
		}
	}
}

// Before the context ends Wait does not time out: it waits for the result.
func TestWaitWaitsWhileContextLive(t *testing.T) {
	result := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		result <- nil
	}()
	start := time.Now()
	err := Wait(context.Background(), result, 50*time.Millisecond, 10*time.Millisecond, func() { t.Error("cut while the context was live") }, quiet, "test")
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("returned after %v, before the result came", d)
	}
}

// Once the context ended with no result, cut runs once at margin-lead and
// Wait returns nil at margin.
func TestWaitCutsAtLeadAndReturnsAtMargin(t *testing.T) {
	const margin, lead = 600 * time.Millisecond, 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	result := make(chan error) // never answers
	var cuts atomic.Int32
	cutAt := make(chan time.Duration, 2)
	start := time.Now()
	err := Wait(ctx, result, margin, lead, func() {
		cuts.Add(1)
		cutAt <- time.Since(start)
	}, quiet, "test")
	took := time.Since(start)
	if err != nil {
		t.Fatalf("err = %v, want nil at the margin", err)
	}
	if n := cuts.Load(); n != 1 {
		t.Fatalf("cut called %d times, want 1", n)
	}
	at := <-cutAt
	const slack = 150 * time.Millisecond
	if at < margin-lead || at > margin-lead+slack {
		t.Fatalf("cut at %v, want about %v", at, margin-lead)
	}
	if took < margin || took > margin+slack {
		t.Fatalf("returned after %v, want about %v", took, margin)
	}
}

// A result that comes after the cut (the cut made the call return) is
// returned, before the margin.
func TestWaitReturnsResultAfterCut(t *testing.T) {
	const margin, lead = 2 * time.Second, 1900 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	result := make(chan error, 1)
	want := errors.New("cut")
	var cuts atomic.Int32
	start := time.Now()
	err := Wait(ctx, result, margin, lead, func() {
		cuts.Add(1)
		result <- want
	}, quiet, "test")
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if d := time.Since(start); d > margin/2 {
		t.Fatalf("returned after %v, want soon after the cut at %v", d, margin-lead)
	}
	if n := cuts.Load(); n != 1 {
		t.Fatalf("cut called %d times, want 1", n)
	}
}
