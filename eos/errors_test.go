package eos_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func committedSum(c *kafkatest.Cluster, group, topic string) int64 {
	got, err := c.CommittedOffsets(context.Background(), group, topic)
	if err != nil {
		return -1
	}
	var sum int64
	for _, o := range got {
		sum += o
	}
	return sum
}

// Handler errors abort the transaction: the outputs the batch had already
// written stay invisible to read_committed readers, the batch is processed
// again, and records that fail for good are dead-lettered inside the
// transaction.
func TestHandlerErrorsLeaveNoVisibleOutput(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 1), kafkatest.WithTopic("out", 1), kafkatest.WithTopic("in.dlt", 1))
	produceInputs(t, c, "in", 200, 10)
	m := newMetrics()
	h := eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
		switch {
		case in.Offset == 30 && in.Attempt < 3:
			return fmt.Errorf("flaky dependency (attempt %d)", in.Attempt) // retryable, then succeeds
		case in.Offset == 70:
			return bulwark.Permanentf("cannot parse record %d", in.Offset)
		case in.Offset == 120:
			return errors.New("always failing") // retryable until the attempt limit
		case in.Offset == 150 && in.Attempt == 1:
			return bulwark.Pause(errors.New("breaker open"), 50*time.Millisecond)
		}
		out.Emit(copyOutput(in, "out"))
		return nil
	})
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "errs", h,
		testOpts(eos.WithBatchSize(50), eos.WithBatchInterval(time.Second), eos.WithMaxAttempts(3), eos.WithMeterProvider(m.mp))...)
	require.NoError(t, err)
	stop := runSession(t, s)
	waitFor(t, 30*time.Second, "all committed", func() bool { return committedSum(c, "g", "in") == 200 })
	require.NoError(t, stop())

	counts := checkExactlyOnce(t, c, "g", "in", "out", "in.dlt")
	require.Equal(t, 198, counts["out"])
	require.Equal(t, 2, counts["in.dlt"])
	dlt, err := c.ReadTopic(context.Background(), "in.dlt", kafkatest.ReadCommitted())
	require.NoError(t, err)
	classes := map[string]string{}
	for _, d := range dlt {
		off, _ := d.Header(bulwark.HeaderDLTOffset)
		class, _ := d.Header(bulwark.HeaderDLTErrorClass)
		attempts, _ := d.Header(bulwark.HeaderDLTAttempts)
		classes[string(off)] = string(class) + "/" + string(attempts)
	}
	require.Equal(t, map[string]string{"70": "permanent/1", "120": "retryable/3"}, classes)

	// The aborted attempts did write their outputs: they are in the log,
	// only hidden by their abort markers.
	all, err := c.ReadTopic(context.Background(), "out")
	require.NoError(t, err)
	require.Greater(t, len(all), counts["out"], "aborted transactions should have written records")
	require.Equal(t, int64(4), m.sum(t, "bulwark.eos.aborts", "reason", "handler-retry"), "2 for offset 30, 2 for offset 120")
	require.Equal(t, int64(1), m.sum(t, "bulwark.eos.aborts", "reason", "handler-pause"))
	require.Equal(t, int64(2), m.sum(t, "bulwark.eos.dead_lettered"))
	t.Logf("committed outputs %d, dead letters %d, records in log incl. aborted %d", counts["out"], counts["in.dlt"], len(all))
}

// Stopping with a transaction open aborts it: what it wrote never becomes
// visible and its offsets are not committed.
func TestStopAbortsOpenTransaction(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 1), kafkatest.WithTopic("out", 1))
	produceInputs(t, c, "in", 50, 5)
	blocked := make(chan struct{})
	h := eos.HandlerFunc(func(ctx context.Context, in *bulwark.Message, out eos.Emitter) error {
		if in.Offset == 20 {
			close(blocked)
			<-ctx.Done()
			return ctx.Err()
		}
		out.Emit(copyOutput(in, "out"))
		return nil
	})
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "stop", h,
		testOpts(eos.WithBatchSize(100), eos.WithBatchInterval(4*time.Second))...)
	require.NoError(t, err)
	stop := runSession(t, s)
	select {
	case <-blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("handler never reached offset 20")
	}
	// The 20 outputs before it are written inside the open transaction.
	waitFor(t, 10*time.Second, "uncommitted outputs written", func() bool {
		ends, err := c.EndOffsets(context.Background(), "out", false)
		return err == nil && ends[0] >= 20
	})
	require.NoError(t, stop())

	committed, err := c.ReadTopic(context.Background(), "out", kafkatest.ReadCommitted())
	require.NoError(t, err)
	require.Empty(t, committed)
	all, err := c.ReadTopic(context.Background(), "out")
	require.NoError(t, err)
	require.Len(t, all, 20)
	offs, err := c.CommittedOffsets(context.Background(), "g", "in")
	require.NoError(t, err)
	require.Empty(t, offs)
}

// A record that keeps pausing (a dependency that stays down) is tried
// less and less often: the pause delay doubles up to WithMaxPauseDelay.
// Each asserted gap is a lower bound set by the pause alone, so a slow
// machine cannot make the test fail; a fixed pause of 200 ms could not
// make the fifth gap reach 1.6 s.
func TestPauseDelayGrowsWhileTheDependencyStaysDown(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 1), kafkatest.WithTopic("out", 1))
	produceInputs(t, c, "in", 1, 1)
	var (
		mu    sync.Mutex
		calls []time.Time
	)
	const pauses = 5
	h := eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
		mu.Lock()
		calls = append(calls, time.Now())
		n := len(calls)
		mu.Unlock()
		if n <= pauses {
			return bulwark.Pause(errors.New("dependency down"), 0)
		}
		out.Emit(copyOutput(in, "out"))
		return nil
	})
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "pauses", h,
		testOpts(eos.WithPauseDelay(200*time.Millisecond), eos.WithMaxPauseDelay(5*time.Second))...)
	require.NoError(t, err)
	stop := runSession(t, s)
	waitFor(t, 30*time.Second, "committed after the pauses", func() bool { return committedSum(c, "g", "in") == 1 })
	require.NoError(t, stop())

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, calls, pauses+1)
	// Pause n waits at least min(200ms*2^(n-1), 5s)/2, and never less
	// than 200 ms.
	for n := 1; n <= pauses; n++ {
		gap := calls[n].Sub(calls[n-1])
		least := max(200*time.Millisecond, (200*time.Millisecond<<(n-1))/2)
		assert.GreaterOrEqual(t, gap, least, "pause %d", n)
		t.Logf("pause %d: %v", n, gap.Round(time.Millisecond))
	}
	counts := checkExactlyOnce(t, c, "g", "in", "out")
	require.Equal(t, 1, counts["out"])
}

// Two groups reading the same topic share its default dead-letter topic;
// each dead letter names the group whose transaction wrote it.
func TestDeadLettersNameTheGroup(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 1), kafkatest.WithTopic("in.dlt", 1))
	produceInputs(t, c, "in", 20, 4)
	for group, offset := range map[string]int64{"g-billing": 3, "g-audit": 11} {
		h := eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, _ eos.Emitter) error {
			if in.Offset == offset {
				return bulwark.Permanentf("rejected %d", in.Offset)
			}
			return nil
		})
		s, err := eos.New(c.Brokers(), group, []string{"in"}, "dlt-"+group, h, testOpts()...)
		require.NoError(t, err)
		stop := runSession(t, s)
		waitFor(t, 30*time.Second, group+" committed", func() bool { return committedSum(c, group, "in") == 20 })
		require.NoError(t, stop())
	}
	dlt, err := c.ReadTopic(context.Background(), "in.dlt", kafkatest.ReadCommitted())
	require.NoError(t, err)
	got := map[string]string{}
	for _, d := range dlt {
		off, _ := d.Header(bulwark.HeaderDLTOffset)
		group, _ := d.Header(bulwark.HeaderDLTGroup)
		got[string(off)] = string(group)
	}
	assert.Equal(t, map[string]string{"3": "g-billing", "11": "g-audit"}, got)
}

// A FencedError matches the root's one fencing sentinel (eos.ErrFenced is
// it) and unwraps to the broker's error; a ProducerError is not fencing.
func TestFencedErrorMatchesTheRootSentinel(t *testing.T) {
	cause := errors.New("producer fenced")
	err := fmt.Errorf("run: %w", &eos.FencedError{TransactionalID: "tx-a", Err: cause})
	assert.Same(t, bulwark.ErrFenced, eos.ErrFenced)
	assert.ErrorIs(t, err, bulwark.ErrFenced)
	assert.ErrorIs(t, err, cause)
	assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
	perr := &eos.ProducerError{TransactionalID: "tx-a", Op: "abort", Err: cause}
	assert.NotErrorIs(t, perr, bulwark.ErrFenced)
	assert.Equal(t, bulwark.ClassRetryable, bulwark.ClassOf(perr))
}
