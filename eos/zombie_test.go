// The race detector is off for this test: see the note on TestChaos
// (chaos_test.go). A zombie's transaction is fenced or timed out by the
// broker with records still on their way, the state in which sarama's own
// data race (IBM/sarama#2913) fires: a CI run failed on it, with no
// bulwark frames in the race. CI runs it in the race-free step with
// TestChaos; every other eos test runs with -race.

//go:build !race

package eos_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// silenceHeartbeats makes the cluster ignore the heartbeats of the first
// member that heartbeats from now on, while telling that member all is
// well: to the broker it looks paused (its session expires), to itself it
// looks healthy (it goes on and tries to commit), like a process resuming
// after a long stop. The returned channel closes at the first silenced
// heartbeat.
func silenceHeartbeats(c *kafkatest.Cluster) <-chan struct{} {
	kf := c.Kfake()
	var mu sync.Mutex
	silenced := ""
	first := make(chan struct{})
	kf.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		hb := req.(*kmsg.HeartbeatRequest)
		mu.Lock()
		defer mu.Unlock()
		if silenced == "" {
			silenced = hb.MemberID
			close(first)
		}
		if hb.MemberID != silenced {
			return nil, nil, false
		}
		return hb.ResponseKind(), nil, true
	})
	return first
}

// A zombie, an instance whose membership expired while it was stopped in
// the middle of a transaction, resumes and tries to commit. The broker
// rejects it and nothing it wrote becomes visible; the member that took
// over processes every record exactly once.
func TestZombieCannotCommit(t *testing.T) {
	cases := map[string]struct {
		zombieOpts []eos.Option
		// silenceFirst stops the zombie's heartbeats reaching the broker
		// (from its first one) before its transaction begins, this long
		// before: otherwise from its pause on.
		silenceFirst time.Duration
		rejectedBy   string
	}{
		// The zombie's membership expires while its transaction is still
		// young: its heartbeats stopped reaching the broker 4s before the
		// transaction began (its heartbeats stall first), and its session
		// timeout (10s) is only a little above its transaction timeout
		// (9s), as New requires. The transaction outlives the membership,
		// so only the group generation sent with the offsets (KIP-447)
		// stops it.
		"group generation": {
			zombieOpts:   []eos.Option{eos.WithSessionTimeout(10 * time.Second), eos.WithTransactionTimeout(9 * time.Second)},
			silenceFirst: 4 * time.Second,
			rejectedBy:   "group",
		},
		// Default settings, heartbeats silenced from the pause in the
		// middle of the transaction: the transaction timeout is below the
		// session timeout, so the broker has aborted the zombie's
		// transaction and bumped its epoch before the member expired.
		"transaction timeout": {rejectedBy: "producer"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 1), kafkatest.WithTopic("out", 1))
			var silenced <-chan struct{}
			if tc.silenceFirst > 0 {
				silenced = silenceHeartbeats(c)
			} else {
				produceInputs(t, c, "in", 20, 4)
			}
			paused, resume := make(chan struct{}), make(chan struct{})
			var once sync.Once
			mk := func(name string) eos.Handler {
				return eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
					if name == "zombie" && in.Offset == 5 {
						once.Do(func() { close(paused); <-resume }) // a stopped process ignores ctx
					}
					o := copyOutput(in, "out")
					o.Headers = append(o.Headers, bulwark.Header{Key: "by", Value: []byte(name)})
					out.Emit(o)
					return nil
				})
			}
			mz := newMetrics()
			zombie, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", mk("zombie"),
				testOpts(append(tc.zombieOpts, eos.WithInstanceID("z"), eos.WithBatchSize(10),
					eos.WithBatchInterval(4*time.Second), eos.WithMeterProvider(mz.mp))...)...)
			require.NoError(t, err)
			stopZ := runSession(t, zombie)
			if tc.silenceFirst > 0 {
				select {
				case <-silenced: // the zombie owns the partition; the broker hears no more of it
				case <-time.After(30 * time.Second):
					t.Fatal("zombie never heartbeated")
				}
				time.Sleep(tc.silenceFirst)
				produceInputs(t, c, "in", 20, 4)
			}
			select {
			case <-paused: // outputs of 0..4 are written in its open transaction
			case <-time.After(30 * time.Second):
				t.Fatal("zombie never reached offset 5")
			}
			if tc.silenceFirst == 0 {
				silenceHeartbeats(c)
			}

			heir, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", mk("heir"), testOpts(eos.WithInstanceID("h"))...)
			require.NoError(t, err)
			stopH := runSession(t, heir)
			waitFor(t, 40*time.Second, "heir to commit everything", func() bool { return committedSum(c, "g", "in") == 20 })

			close(resume) // the zombie wakes up and tries to commit 0..9
			waitFor(t, 20*time.Second, "zombie's commit to be rejected", func() bool {
				return mz.sum(t, "bulwark.eos.fenced", "kind", tc.rejectedBy) > 0
			})
			require.NoError(t, stopH())
			zerr := stopZ()
			t.Logf("zombie Run returned %v; aborts %d, fenced(group) %d, fenced(producer) %d", zerr,
				mz.sum(t, "bulwark.eos.aborts"), mz.sum(t, "bulwark.eos.fenced", "kind", "group"),
				mz.sum(t, "bulwark.eos.fenced", "kind", "producer"))
			require.Zero(t, mz.sum(t, "bulwark.eos.commits"), "the zombie committed")
			if tc.rejectedBy == "producer" {
				require.ErrorIs(t, zerr, eos.ErrFenced)
			} else {
				require.NoError(t, zerr, "a stale generation only makes the member rejoin")
			}

			counts := checkExactlyOnce(t, c, "g", "in", "out")
			outs, err := c.ReadTopic(context.Background(), "out", kafkatest.ReadCommitted())
			require.NoError(t, err)
			for _, m := range outs {
				by, _ := m.Header("by")
				require.Equal(t, "heir", string(by), "a zombie output is visible")
			}
			all, err := c.ReadTopic(context.Background(), "out")
			require.NoError(t, err)
			require.Greater(t, len(all), len(outs), "the zombie's writes should be in the log, aborted")
			t.Logf("counts %v, records in log incl. aborted %d", counts, len(all))
		})
	}
}
