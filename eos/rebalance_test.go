package eos_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// owner is a member's view of its partitions through its rebalance
// listener; its handler checks that every record it processes is of a
// partition the listener was told about and not yet told to give up.
type owner struct {
	mu         sync.Mutex
	owned      map[int32]bool
	calls      []string
	violations []string
}

func newOwner() *owner { return &owner{owned: map[int32]bool{}} }

func (o *owner) listener() bulwark.RebalanceListener {
	set := func(kind string, on bool) func(context.Context, []bulwark.TopicPartition) {
		return func(_ context.Context, ps []bulwark.TopicPartition) {
			o.mu.Lock()
			defer o.mu.Unlock()
			var names []int32
			for _, p := range ps {
				if o.owned[p.Partition] == on {
					o.violations = append(o.violations, fmt.Sprintf("%s %d twice", kind, p.Partition))
				}
				o.owned[p.Partition] = on
				names = append(names, p.Partition)
			}
			slices.Sort(names)
			o.calls = append(o.calls, fmt.Sprint(kind, names))
		}
	}
	return bulwark.RebalanceFuncs{OnAssigned: set("assigned", true), OnRevoked: set("revoked", false), OnLost: set("lost", false)}
}

func (o *owner) handler() eos.Handler {
	return eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
		o.mu.Lock()
		if !o.owned[in.Partition] {
			o.violations = append(o.violations, fmt.Sprintf("record of partition %d processed outside its assignment", in.Partition))
		}
		o.mu.Unlock()
		out.Emit(copyOutput(in, "out"))
		return nil
	})
}

func (o *owner) partitions() []int32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ps []int32
	for p, on := range o.owned {
		if on {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

func (o *owner) report() ([]string, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls), slices.Clone(o.violations)
}

// Two sessions join and leave: each listener's assignment is what its
// member processes, the two assignments split the topic, and a stopped
// member revokes everything it had.
func TestRebalanceListenerFollowsTheGenerations(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 4), kafkatest.WithTopic("out", 4))
	oa, ob := newOwner(), newOwner()
	a, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", oa.handler(),
		testOpts(eos.WithInstanceID("a"), eos.WithRebalanceListener(oa.listener()))...)
	require.NoError(t, err)
	stopA := runSession(t, a)
	produceInputs(t, c, "in", 200, 20)
	waitFor(t, 30*time.Second, "a commits everything", func() bool { return committedSum(c, "g", "in") == 200 })
	require.Equal(t, []int32{0, 1, 2, 3}, oa.partitions())

	b, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", ob.handler(),
		testOpts(eos.WithInstanceID("b"), eos.WithRebalanceListener(ob.listener()))...)
	require.NoError(t, err)
	stopB := runSession(t, b)
	waitFor(t, 30*time.Second, "two partitions each", func() bool {
		return len(oa.partitions()) == 2 && len(ob.partitions()) == 2
	})
	require.Equal(t, []int32{0, 1, 2, 3}, slices.Sorted(slices.Values(append(oa.partitions(), ob.partitions()...))))
	require.NoError(t, produceRange(c, "in", 200, 400, 20))
	waitFor(t, 30*time.Second, "everything committed", func() bool { return committedSum(c, "g", "in") == 400 })

	require.NoError(t, stopB())
	require.Empty(t, ob.partitions(), "b stopped without revoking")
	waitFor(t, 30*time.Second, "a owns every partition again", func() bool { return len(oa.partitions()) == 4 })
	require.NoError(t, stopA())
	require.Empty(t, oa.partitions(), "a stopped without revoking")
	for name, o := range map[string]*owner{"a": oa, "b": ob} {
		calls, violations := o.report()
		require.Empty(t, violations, "%s: calls %v", name, calls)
		for _, call := range calls {
			require.NotContains(t, call, "lost", "%s: calls %v", name, calls)
		}
		t.Logf("%s: %v", name, calls)
	}
	checkExactlyOnce(t, c, "g", "in", "out")
}

// A session cut off from the cluster is dropped from the group: Lost, not
// Revoked.
func TestRebalanceListenerLostWhenCutOff(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 2), kafkatest.WithTopic("out", 2))
	o := newOwner()
	d := kafkatest.NewDialer()
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", o.handler(),
		testOpts(eos.WithConnection(conn.WithDialer(d)), eos.WithRebalanceListener(o.listener()))...)
	require.NoError(t, err)
	stop := runSession(t, s)
	produceInputs(t, c, "in", 20, 4)
	waitFor(t, 30*time.Second, "everything committed", func() bool { return committedSum(c, "g", "in") == 20 })
	d.Kill()
	waitFor(t, 30*time.Second, "the partitions lost", func() bool { return len(o.partitions()) == 0 })
	require.NoError(t, stop())
	calls, violations := o.report()
	require.Empty(t, violations)
	require.Equal(t, []string{"assigned[0 1]", "lost[0 1]"}, calls)
}
