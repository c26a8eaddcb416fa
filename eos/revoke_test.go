package eos_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// processed records when each member processed which input.
type processed struct {
	mu    sync.Mutex
	first map[string]time.Time          // member -> first record
	parts map[string]map[int32]struct{} // member -> partitions it processed
}

func newProcessed() *processed {
	return &processed{first: map[string]time.Time{}, parts: map[string]map[int32]struct{}{}}
}

func (p *processed) add(member string, in *bulwark.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.first[member]; !ok {
		p.first[member] = time.Now()
	}
	if p.parts[member] == nil {
		p.parts[member] = map[int32]struct{}{}
	}
	p.parts[member][in.Partition] = struct{}{}
}

func (p *processed) firstOf(member string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.first[member]
	return t, ok
}

func (p *processed) partitionsOf(member string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parts[member])
}

// A live member's partitions move to a joining member while its
// transaction is still going (its EndTxn held at the broker, or its handler
// busy inside an open transaction). The rebalance must wait: the new member
// processes nothing before the old member's transaction finished, and every
// input ends in exactly one committed output.
func TestRevokeWaitsForTheOpenTransaction(t *testing.T) {
	const hold = 2500 * time.Millisecond // below the 5s transaction timeout
	cases := map[string]struct {
		// block starts blocking member a's transaction once the first
		// part is committed; it returns a channel closed once a's
		// transaction is stuck, and the function that lets it go on.
		block func(c *kafkatest.Cluster, gate *handlerGate) (stuck <-chan struct{}, release func())
		// abortReason, if set, is the reason a must abort with.
		abortReason string
	}{
		"EndTxn in flight": {
			block: func(c *kafkatest.Cluster, _ *handlerGate) (<-chan struct{}, func()) {
				return c.HoldNext(kafkatest.EndTxn)
			},
		},
		"transaction open": {
			block: func(_ *kafkatest.Cluster, g *handlerGate) (<-chan struct{}, func()) {
				return g.arm()
			},
			abortReason: "revoked",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 4), kafkatest.WithTopic("out", 4))
			seen := newProcessed()
			gate := &handlerGate{}
			mk := func(member string) eos.Handler {
				return eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
					seen.add(member, in)
					if member == "a" {
						gate.wait() // a busy handler ignores ctx
					}
					out.Emit(copyOutput(in, "out"))
					return nil
				})
			}
			mA := newMetrics()
			a, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", mk("a"),
				testOpts(eos.WithInstanceID("a"), eos.WithMeterProvider(mA.mp))...)
			require.NoError(t, err)
			stopA := runSession(t, a)
			produceInputs(t, c, "in", 400, 40)
			waitFor(t, 30*time.Second, "a to commit the first part", func() bool { return committedSum(c, "g", "in") == 400 })

			joins := countJoins(c)
			stuck, release := tc.block(c, gate)
			defer release()
			require.NoError(t, produceRange(c, "in", 400, 800, 40))
			select {
			case <-stuck:
			case <-time.After(30 * time.Second):
				t.Fatal("a's transaction never got stuck")
			}

			b, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", mk("b"), testOpts(eos.WithInstanceID("b"))...)
			require.NoError(t, err)
			stopB := runSession(t, b)
			time.Sleep(hold) // b has joined; the rebalance waits for a
			_, early := seen.firstOf("b")
			joinedBeforeRelease := joins.Load()
			released := time.Now()
			release()
			require.False(t, early, "b processed records while a's transaction was not finished")
			require.GreaterOrEqual(t, joinedBeforeRelease, int64(1), "b had not joined while a's transaction was stuck")

			require.NoError(t, produceRange(c, "in", 800, 1200, 40))
			waitFor(t, 60*time.Second, "everything committed", func() bool { return committedSum(c, "g", "in") == 1200 })
			require.NoError(t, stopB())
			require.NoError(t, stopA())

			firstB, ok := seen.firstOf("b")
			require.True(t, ok, "b never got partitions")
			require.True(t, firstB.After(released), "b started %v before a's transaction was let go", released.Sub(firstB))
			require.GreaterOrEqual(t, seen.partitionsOf("b"), 1)
			if tc.abortReason != "" {
				require.GreaterOrEqual(t, mA.sum(t, "bulwark.eos.aborts", "reason", tc.abortReason), int64(1),
					"a's open transaction was not aborted on revoke")
			}
			counts := checkExactlyOnce(t, c, "g", "in", "out")
			require.Equal(t, 1200, counts["out"])
			t.Logf("b started %v after the release, on %d partitions; a aborts %d, commits %d; counts %v",
				firstB.Sub(released).Round(time.Millisecond), seen.partitionsOf("b"),
				mA.sum(t, "bulwark.eos.aborts"), mA.sum(t, "bulwark.eos.commits"), counts)
		})
	}
}

// countJoins counts the JoinGroup requests the cluster receives from now
// on.
func countJoins(c *kafkatest.Cluster) *atomic.Int64 {
	var n atomic.Int64
	kf := c.Kfake()
	kf.ControlKey(int16(kmsg.JoinGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
		kf.KeepControl()
		n.Add(1)
		return nil, nil, false
	})
	return &n
}

// handlerGate blocks a handler once armed, on the first record after
// arming, until released.
type handlerGate struct {
	mu      sync.Mutex
	armed   bool
	stuck   chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *handlerGate) arm() (<-chan struct{}, func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.stuck, g.release = true, make(chan struct{}), make(chan struct{})
	var once sync.Once
	return g.stuck, func() { once.Do(func() { close(g.release) }) }
}

func (g *handlerGate) wait() {
	g.mu.Lock()
	armed, stuck, release := g.armed, g.stuck, g.release
	g.mu.Unlock()
	if !armed {
		return
	}
	g.once.Do(func() {
		close(stuck)
		<-release
	})
}
