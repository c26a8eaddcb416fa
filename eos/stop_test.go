package eos_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// stopSlack is what Run may take beyond eos.StopMargin on a shared
// machine: returning after the margin, scheduling.
const stopSlack = time.Second

// A broker that stops answering while a transaction is committing (EndTxn
// held) and while the member leaves (LeaveGroup held) does not hold up
// Run: it returns within eos.StopMargin of its context ending, and no
// record is lost: a fresh session finishes the work, every input ending in
// exactly one committed output.
func TestRunStopsWithinMarginWhenBrokerHangs(t *testing.T) {
	const n = 600
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 3), kafkatest.WithTopic("out", 3))
	produceInputs(t, c, "in", n/2, 20)
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "stop", copyHandler(), testOpts()...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, 30*time.Second, "a first part committed", func() bool { return committedSum(c, "g", "in") >= n/6 })

	leaveArrived, releaseLeave := c.HoldNext(kafkatest.LeaveGroup)
	defer releaseLeave()
	endArrived, releaseEnd := c.HoldNext(kafkatest.EndTxn)
	defer releaseEnd()
	require.NoError(t, produceRange(c, "in", n/2, n, 20))
	select {
	case <-endArrived: // a transaction is committing and gets no answer
	case <-time.After(30 * time.Second):
		t.Fatal("no EndTxn within 30s")
	}

	cancel()
	start := time.Now()
	select {
	case <-done:
	case <-time.After(eos.StopMargin + 30*time.Second):
		t.Fatalf("Run did not return within %v of cancel", eos.StopMargin+30*time.Second)
	}
	took := time.Since(start)
	t.Logf("Run returned %v after cancel (margin %v)", took, eos.StopMargin)
	require.LessOrEqual(t, took, eos.StopMargin+stopSlack, "Run outlived its stop margin")
	select {
	case <-leaveArrived:
		t.Log("LeaveGroup was held too")
	default:
		t.Log("LeaveGroup was never sent (the stop ended on the held EndTxn first)")
	}
	releaseEnd()
	releaseLeave()

	// A fresh session (same transactional ID: it fences the old producer)
	// processes what the stopped one left.
	s2, err := eos.New(c.Brokers(), "g", []string{"in"}, "stop", copyHandler(), testOpts()...)
	require.NoError(t, err)
	stop2 := runSession(t, s2)
	waitFor(t, 60*time.Second, "every input committed by the fresh session", func() bool { return committedSum(c, "g", "in") == n })
	require.NoError(t, stop2())
	counts := checkExactlyOnce(t, c, "g", "in", "out")
	require.Equal(t, n, counts["out"])
}

// A coordinator that never answers LeaveGroup (the transactions still
// commit) does not hold up Run either, and a fresh session finishes the
// work exactly once.
func TestRunStopsWithinMarginWhenLeaveGroupHangs(t *testing.T) {
	const n = 300
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 3), kafkatest.WithTopic("out", 3))
	produceInputs(t, c, "in", n/2, 20)
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "stop", copyHandler(), testOpts()...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, 30*time.Second, "a first part committed", func() bool { return committedSum(c, "g", "in") >= n/6 })

	leaveArrived, releaseLeave := c.HoldNext(kafkatest.LeaveGroup)
	defer releaseLeave()
	cancel()
	start := time.Now()
	select {
	case <-done:
	case <-time.After(eos.StopMargin + 30*time.Second):
		t.Fatalf("Run did not return within %v of cancel", eos.StopMargin+30*time.Second)
	}
	took := time.Since(start)
	t.Logf("Run returned %v after cancel (margin %v)", took, eos.StopMargin)
	require.LessOrEqual(t, took, eos.StopMargin+stopSlack, "Run outlived its stop margin")
	select {
	case <-leaveArrived:
	default:
		t.Fatal("the stopping member never sent LeaveGroup: the hang was not exercised")
	}
	releaseLeave()

	// The rest of the inputs, for a fresh session to process.
	require.NoError(t, produceRange(c, "in", n/2, n, 20))
	s2, err := eos.New(c.Brokers(), "g", []string{"in"}, "stop", copyHandler(), testOpts()...)
	require.NoError(t, err)
	stop2 := runSession(t, s2)
	waitFor(t, 60*time.Second, "every input committed by the fresh session", func() bool { return committedSum(c, "g", "in") == n })
	require.NoError(t, stop2())
	counts := checkExactlyOnce(t, c, "g", "in", "out")
	require.Equal(t, n, counts["out"])
}
