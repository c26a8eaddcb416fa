package eos_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// The offset rows of the fault matrix (issue 17) for eos.
func TestFaultMatrixOffsets(t *testing.T) {
	t.Run("transactional input with aborts", testTransactionalInput)
}

// An eos session reading a topic written by another transactional
// producer, caught up, has committed every input partition to its end
// (the last stable offset: past the last marker), including the partition
// whose records were all aborted; every committed input has exactly one
// output and no aborted input has any. A second round of transactions,
// written while it runs, ends the same way.
func testTransactionalInput(t *testing.T) {
	faultmatrix.Report(t, faultmatrix.Cell{
		Fault:     "transactional input with aborts (3 partitions, one only aborted)",
		Component: "eos",
		Bound:     "caught up (committed = end offsets) within 20 s of each round",
		Outcome:   "committed offsets = end offsets on every input partition",
		Records:   "every committed input output exactly once, 0 aborted processed, 0 dead-lettered",
	})
	const group = "g-txn-input"
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 3), kafkatest.WithTopic("out", 1))
	ctx := context.Background()
	var mu sync.Mutex
	processed := map[string]int{}
	s, err := eos.New(c.Brokers(), group, []string{"in"}, "copy", eos.HandlerFunc(
		func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
			mu.Lock()
			processed[string(in.Value)]++
			mu.Unlock()
			out.Emit(&bulwark.Message{Topic: "out", Value: in.Value})
			return nil
		}), testOpts()...)
	require.NoError(t, err)
	stop := runSession(t, s)
	var want []string
	for round := range 2 {
		txns := kafkatest.MixedTransactions(fmt.Sprint(round))
		require.NoError(t, c.WriteTransactions(ctx, "in", "producer-of-in", txns))
		want = append(want, kafkatest.CommittedValues(txns)...)
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		ends, err := c.WaitCaughtUp(wctx, group, "in")
		cancel()
		require.NoError(t, err, "round %d", round)
		t.Logf("round %d: committed %v = end offsets after %v", round, ends, time.Since(start).Round(time.Millisecond))
	}
	require.NoError(t, stop())

	outs, err := c.ReadTopic(ctx, "out", kafkatest.ReadCommitted())
	require.NoError(t, err)
	outputs := map[string]int{}
	for _, m := range outs {
		outputs[string(m.Value)]++
	}
	mu.Lock()
	defer mu.Unlock()
	for _, v := range want {
		require.Equal(t, 1, outputs[v], "outputs of committed input %s", v)
		// Processed again only after an abort, which outputs nothing.
		require.GreaterOrEqual(t, processed[v], 1, "times committed input %s was processed", v)
	}
	for v := range processed {
		require.False(t, strings.HasPrefix(v, "a"), "aborted input %s was processed", v)
	}
	require.Len(t, outputs, len(want), "outputs: %v", outputs)
}
