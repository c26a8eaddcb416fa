package eos_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func copyHandler() eos.Handler {
	return eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
		out.Emit(copyOutput(in, "out"))
		return nil
	})
}

// feedAndFault produces inputs in chunks and injects f once part of them
// is committed, so the fault hits a session at work.
func feedAndFault(t *testing.T, c *kafkatest.Cluster, n int, f kafkatest.Fault) *kafkatest.FaultHandle {
	t.Helper()
	produceInputs(t, c, "in", n/2, 50)
	waitFor(t, 30*time.Second, "a first part committed", func() bool { return committedSum(c, "g", "in") >= int64(n/4) })
	h := c.InjectFault(f)
	require.NoError(t, produceRange(c, "in", n/2, n, 50))
	return h
}

// A fenced producer (PRODUCER_FENCED on EndTxn) stops a session without
// WithAutoRestart with a FencedError; with it, a fresh producer takes over
// and every input still ends in exactly one output.
func TestAutoRestartAfterFencing(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 3), kafkatest.WithTopic("out", 3))
		s, err := eos.New(c.Brokers(), "g", []string{"in"}, "restart", copyHandler(), testOpts()...)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- s.Run(context.Background()) }()
		h := feedAndFault(t, c, 2000, kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.EndTxn}, Err: kafkatest.ProducerFenced, Count: 1})
		defer h.Remove()
		select {
		case err := <-done:
			var fe *eos.FencedError
			require.ErrorAs(t, err, &fe)
			assert.ErrorIs(t, err, eos.ErrFenced)
		case <-time.After(30 * time.Second):
			t.Fatal("a fenced session kept running without WithAutoRestart")
		}
	})
	t.Run("on", func(t *testing.T) {
		c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 3), kafkatest.WithTopic("out", 3))
		m := newMetrics()
		s, err := eos.New(c.Brokers(), "g", []string{"in"}, "restart", copyHandler(),
			testOpts(eos.WithAutoRestart(true), eos.WithMeterProvider(m.mp))...)
		require.NoError(t, err)
		stop := runSession(t, s)
		h := feedAndFault(t, c, 2000, kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.EndTxn}, Err: kafkatest.ProducerFenced, Count: 1})
		defer h.Remove()
		waitFor(t, 60*time.Second, "every input committed after the restart", func() bool { return committedSum(c, "g", "in") == 2000 })
		require.NoError(t, stop())
		assert.Equal(t, 1, h.Hits(), "the fault must have hit")
		assert.GreaterOrEqual(t, m.sum(t, "bulwark.eos.fenced"), int64(1))
		counts := checkExactlyOnce(t, c, "g", "in", "out")
		assert.Equal(t, 2000, counts["out"])
	})
}

// An EndTxn that never gets an answer (every retry times out) leaves the
// outcome unknown: the session must not count it as committed; it aborts,
// asks the stable offsets and processes what was not committed again.
func TestUnknownEndTxnOutcomeIsNotCommitted(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 3), kafkatest.WithTopic("out", 3))
	m := newMetrics()
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "unknown", copyHandler(),
		testOpts(eos.WithMeterProvider(m.mp))...)
	require.NoError(t, err)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- s.Run(ctx) }()
	// More failures than sarama's transaction retries (10): the commit
	// gives up with the outcome unknown.
	h := feedAndFault(t, c, 2000, kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.EndTxn}, Err: kafkatest.RequestTimedOut, Count: 12})
	defer h.Remove()
	waitFor(t, 60*time.Second, "every input committed", func() bool { return committedSum(c, "g", "in") == 2000 })
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	assert.Equal(t, 12, h.Hits())
	assert.GreaterOrEqual(t, m.sum(t, "bulwark.eos.aborts", "reason", "unknown-outcome"), int64(1),
		"the failed commit must count as an abort of unknown outcome")
	counts := checkExactlyOnce(t, c, "g", "in", "out")
	assert.Equal(t, 2000, counts["out"])
}

// lostCommitAnswer makes the next EndTxn commit of transactional ID txnID
// (once armed) reach the coordinator, which commits it, while its answer
// is lost: the producer's connections (through d) are cut as the request
// is handled. Every retry of that commit is answered REQUEST_TIMED_OUT, so
// the producer gives up with the outcome unknown. It counts the retries
// and the aborts that follow.
type lostCommitAnswer struct {
	armed                    atomic.Bool
	mu                       sync.Mutex
	lost                     bool
	retries, abortsAfterLost int
}

func loseNextCommitAnswer(c *kafkatest.Cluster, d *kafkatest.Dialer, txnID string) *lostCommitAnswer {
	l := &lostCommitAnswer{}
	kf := c.Kfake()
	kf.ControlKey(int16(kmsg.EndTxn), func(r kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		req := r.(*kmsg.EndTxnRequest)
		if req.TransactionalID != txnID {
			return nil, nil, false
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		switch {
		case !l.lost && req.Commit && l.armed.Load():
			l.lost = true
			d.DropConnections() // the answer to this request never arrives
			return nil, nil, false
		case l.lost && req.Commit && l.abortsAfterLost == 0:
			l.retries++
			resp := req.ResponseKind().(*kmsg.EndTxnResponse)
			resp.ErrorCode = kerr.RequestTimedOut.Code
			return resp, nil, true
		case l.lost && !req.Commit:
			l.abortsAfterLost++
		}
		return nil, nil, false
	})
	return l
}

// The dangerous branch of an unknown EndTxn outcome: the commit landed at
// the broker but its answer was lost. The session must find out from the
// stable offsets that it committed and go on after it: no output written
// twice (not even in an aborted transaction, which would mean it replayed
// the batch), no abort reported for it, and Run keeps going without
// WithAutoRestart.
func TestUnknownEndTxnOutcomeThatCommittedIsNotReplayed(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 3), kafkatest.WithTopic("out", 3))
	m := newMetrics()
	d := kafkatest.NewDialer() // the producer's connections only
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "lost", copyHandler(),
		testOpts(eos.WithMeterProvider(m.mp), eos.WithInstanceID("i"), eos.WithSaramaConfig(func(cfg *sarama.Config) {
			if cfg.Producer.Transaction.ID != "" {
				cfg.Net.Proxy.Enable = true
				cfg.Net.Proxy.Dialer = d
			}
		}))...)
	require.NoError(t, err)
	lost := loseNextCommitAnswer(c, d, s.TransactionalID())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	produceInputs(t, c, "in", 1000, 50)
	waitFor(t, 30*time.Second, "a first part committed", func() bool { return committedSum(c, "g", "in") >= 500 })
	lost.armed.Store(true)
	require.NoError(t, produceRange(c, "in", 1000, 2000, 50))
	waitFor(t, 60*time.Second, "every input committed", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned before the end: %v", err)
		default:
		}
		return committedSum(c, "g", "in") == 2000
	})
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}

	lost.mu.Lock()
	require.True(t, lost.lost, "no commit lost its answer")
	require.GreaterOrEqual(t, lost.retries, 1, "the producer never retried the commit")
	require.GreaterOrEqual(t, lost.abortsAfterLost, 1, "the session never probed the outcome with an abort")
	lost.mu.Unlock()
	require.Zero(t, m.sum(t, "bulwark.eos.aborts", "reason", "unknown-outcome"),
		"a transaction that committed was reported as aborted")
	// The resolved transaction counts as committed, once.
	recs := m.hist(t, "bulwark.eos.transaction.records")
	require.Equal(t, 2000.0, recs.sum, "inputs counted in committed transactions")
	require.Equal(t, uint64(m.sum(t, "bulwark.eos.commits")), recs.count)
	counts := checkExactlyOnce(t, c, "g", "in", "out")
	require.Equal(t, 2000, counts["out"])
	// Nothing was written twice, even in an aborted transaction: the
	// committed batch was not processed again.
	all, err := c.ReadTopic(context.Background(), "out")
	require.NoError(t, err)
	require.Len(t, all, 2000, "records in the output log, aborted ones included")
}
