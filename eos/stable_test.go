package eos_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// A partition moves to a new owner while the old owner's transaction, which
// already sent its offsets (TxnOffsetCommit), waits for its EndTxn. The new
// owner must not start from the offsets committed before that transaction
// (they would replay its records, which then commits: duplicates); it waits
// until the offsets are stable and starts after them.
func TestNewOwnerStartsFromStableOffsets(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 1), kafkatest.WithTopic("out", 1))
	produceInputs(t, c, "in", 20, 4)

	// Long timeouts so the held transaction outlives the hand-over; the
	// partition moves at once because B takes over A's static membership.
	common := []eos.Option{
		eos.WithSessionTimeout(20 * time.Second), eos.WithTransactionTimeout(15 * time.Second),
		eos.WithBatchSize(10), eos.WithBatchInterval(5 * time.Second),
		eos.WithInstanceID("member-1"), eos.WithStaticMembership(),
	}
	handler := func(name string, seen *[]int64, mu *sync.Mutex) eos.Handler {
		return eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
			mu.Lock()
			*seen = append(*seen, in.Offset)
			mu.Unlock()
			o := copyOutput(in, "out")
			o.Headers = append(o.Headers, bulwark.Header{Key: "by", Value: []byte(name)})
			out.Emit(o)
			return nil
		})
	}
	var mu sync.Mutex
	var seenA, seenB []int64

	arrived, release := c.HoldNext(kafkatest.EndTxn)
	defer release()
	dialA := kafkatest.NewDialer()
	a, err := eos.New(c.Brokers(), "g", []string{"in"}, "txa", handler("a", &seenA, &mu),
		append(common, eos.WithConnection(conn.WithDialer(dialA), conn.WithMetadataRetries(1), conn.WithRetryBackoff(50*time.Millisecond)))...)
	require.NoError(t, err)
	stopA := runSession(t, a)
	select {
	case <-arrived: // A's offsets for 0..9 are in; its EndTxn is held
	case <-time.After(30 * time.Second):
		t.Fatal("A never sent EndTxn")
	}
	dialA.Kill() // A is gone without a goodbye
	stoppedA := make(chan struct{})
	go func() { _ = stopA(); close(stoppedA) }() // its error does not matter

	mB := newMetrics()
	b, err := eos.New(c.Brokers(), "g", []string{"in"}, "txb", handler("b", &seenB, &mu),
		append(common, eos.WithMeterProvider(mB.mp))...)
	require.NoError(t, err)
	stopB := runSession(t, b)

	// B owns the partition now but must wait: the offsets are unstable.
	waitFor(t, 30*time.Second, "B to find unstable offsets", func() bool {
		return mB.sum(t, "bulwark.eos.unstable_offset_fetches") > 0
	})
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	require.Empty(t, seenB, "B processed records while A's transaction was pending")
	mu.Unlock()

	t0 := time.Now()
	t.Logf("released at %v", t0)
	release() // A's transaction commits (offsets 10, outputs 0..9)
	waitFor(t, 30*time.Second, "all committed", func() bool { return committedSum(c, "g", "in") == 20 })
	t.Logf("all committed after %v", time.Since(t0))
	require.NoError(t, stopB())
	t.Logf("B stopped after %v", time.Since(t0))
	<-stoppedA
	t.Logf("A stopped after %v", time.Since(t0)) // A's producer lost its connections; its error does not matter

	mu.Lock()
	require.Equal(t, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, seenA[:10])
	require.NotEmpty(t, seenB)
	for _, off := range seenB {
		require.GreaterOrEqual(t, off, int64(10), "B started before A's committed offset")
	}
	mu.Unlock()
	counts := checkExactlyOnce(t, c, "g", "in", "out")
	t.Logf("counts %v, A processed %v, B processed %v, B unstable fetches %d", counts, seenA, seenB,
		mB.sum(t, "bulwark.eos.unstable_offset_fetches"))
}
