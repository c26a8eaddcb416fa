package consumertest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer/consumertest"
	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
)

func TestFaultMatrix(t *testing.T) {
	cells := []struct {
		cell faultmatrix.Cell
		err  error
		dlt  error // the dead-letter write's error
	}{
		{faultmatrix.Cell{Fault: "persistent pause-class error", Component: "consumertest",
			Bound:   "Deliver without a deadline returns within 5 s, after WithAttemptLimit (100) attempts",
			Outcome: "Abandoned, Limited; Waits = the pause delays, virtual clock moved by their sum",
			Records: "not committed, 0 dead-lettered"},
			bulwark.Pause(errDown, time.Second), nil},
		{faultmatrix.Cell{Fault: "dead-letter topic missing (writes fail)", Component: "consumertest",
			Bound:   "Deliver without a deadline returns within 5 s, after WithAttemptLimit (100) writes",
			Outcome: "Abandoned, Limited",
			Records: "not committed, 0 dead-lettered"},
			bulwark.Permanentf("bad record"), errors.New("unknown topic")},
	}
	for _, c := range cells {
		t.Run(c.cell.Fault, func(t *testing.T) {
			faultmatrix.Report(t, c.cell)
			const limit = 100
			clock := consumertest.NewAutoClock(time.Time{})
			start := clock.Now()
			h, err := consumertest.New(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { return c.err }),
				consumertest.WithClock(clock), consumertest.WithAttemptLimit(limit),
				consumertest.WithDeadLetterError(func(*bulwark.Message) error { return c.dlt }))
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			res := h.Deliver(context.Background(), &bulwark.Message{Topic: "t", Offset: 1})
			if took := time.Since(began); took > 5*time.Second {
				t.Fatalf("Deliver took %s", took)
			}
			if res.Outcome != consumertest.Abandoned || !res.Limited {
				t.Fatalf("result %+v, want abandoned at the attempt limit", res)
			}
			var total time.Duration
			for _, w := range res.Waits {
				total += w
			}
			if len(res.Waits) != limit-1 || clock.Now().Sub(start) != total {
				t.Fatalf("%d waits summing to %v, clock moved %v; want %d waits and the clock moved by their sum",
					len(res.Waits), total, clock.Now().Sub(start), limit-1)
			}
			if c.dlt == nil && res.Waits[0] != time.Second {
				t.Fatalf("pause wait %v, want the error's delay 1s", res.Waits[0])
			}
			if got := h.Committed()[consumertest.Partition{Topic: "t"}]; got != 1 || len(h.DeadLetters()) != 0 {
				t.Fatalf("committed %d with %d dead letters, want 1 and none", got, len(h.DeadLetters()))
			}
		})
	}
}
