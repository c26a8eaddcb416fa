package produce_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTxnEngine(t testing.TB, cl sarama.Client, id string, opts ...produce.Option) *produce.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := produce.NewContext(ctx, cl, append([]produce.Option{produce.WithTransactionalID(id, 10*time.Second)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Close(ctx)
	})
	return e
}

func txnCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readCommitted returns the values read_committed sees in topic, by key
// in offset order.
func readCommitted(t *testing.T, c *kafkatest.Cluster, topic string) (values []string, byKey map[string][]string) {
	t.Helper()
	msgs, err := c.ReadTopic(txnCtx(t), topic, kafkatest.ReadCommitted())
	require.NoError(t, err)
	byKey = map[string][]string{}
	for _, m := range msgs {
		values = append(values, string(m.Value))
		byKey[string(m.Key)] = append(byKey[string(m.Key)], string(m.Value))
	}
	return values, byKey
}

// TestTxnCommitAndAbort: committed records are visible to read_committed,
// aborted ones are not; records need an open transaction.
func TestTxnCommitAndAbort(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 3))
	cl := newClient(t, c)
	e := newTxnEngine(t, cl, "txn-basic")
	ctx := txnCtx(t)

	tr := newTracker()
	tr.produce(e, topic, "k", "outside")
	tr.wait(t, 10*time.Second)
	require.ErrorIs(t, tr.got["outside"].err, produce.ErrNoTransaction)

	var want []string
	for i, commit := range []bool{true, false, true} {
		require.NoError(t, e.Begin())
		require.ErrorIs(t, e.Begin(), produce.ErrTransactionOpen)
		for j := range 20 {
			v := fmt.Sprintf("k%d/%d/%03d", j%3, i, j)
			tr.produce(e, topic, fmt.Sprintf("k%d", j%3), v)
			if commit {
				want = append(want, v)
			}
		}
		if commit {
			require.NoError(t, e.Commit(ctx))
		} else {
			require.NoError(t, e.Abort(ctx))
		}
	}
	require.NoError(t, e.Abort(ctx), "abort with no transaction open does nothing")
	tr.wait(t, 10*time.Second)
	got, _ := readCommitted(t, c, topic)
	slices.Sort(got)
	slices.Sort(want)
	require.Equal(t, want, got)
}

// TestTxnChaos: keyed records from several goroutines in transactions that
// commit or abort, while the cluster answers NOT_LEADER_OR_FOLLOWER and
// REQUEST_TIMED_OUT to produce requests, CONCURRENT_TRANSACTIONS (and
// others) to EndTxn and AddPartitionsToTxn, moves leaders and drops
// connections, one with an EndTxn in flight. read_committed sees every
// committed record exactly once, in send order per key, and nothing of an
// aborted transaction; every callback runs once.
func TestTxnChaos(t *testing.T) {
	const txns, workers, keys, perKey = 24, 4, 16, 12
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 6))
	d := kafkatest.NewDialer()
	cl := newClient(t, c, conn.WithDialer(d))
	e := newTxnEngine(t, cl, "txn-chaos", produce.WithMaxBatchRecords(20), produce.WithRetryBackoff(20*time.Millisecond))
	ctx := txnCtx(t)

	type fault struct {
		h *kafkatest.FaultHandle
		n int
	}
	inject := func(req kafkatest.Request, err kafkatest.KafkaError, n int) fault {
		return fault{c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{req}, Err: err, Count: n}), n}
	}
	// drop cuts the client's connections as the broker takes a request of
	// kind req in: the broker still handles it, its answer is lost.
	drop := func(req kafkatest.Request) func() {
		var hit atomic.Bool
		c.Kfake().ControlKey(int16(req), func(kmsg.Request) (kmsg.Response, error, bool) {
			c.Kfake().DropControl()
			d.DropConnections()
			hit.Store(true)
			return nil, nil, false
		})
		return func() { assert.True(t, hit.Load(), "no %v request arrived", req) }
	}
	var pending []fault
	var checks []func()
	faults := map[int]func(){
		1: func() { pending = append(pending, inject(kafkatest.Produce, kafkatest.NotLeaderOrFollower, 3)) },
		3: func() { pending = append(pending, inject(kafkatest.Produce, kafkatest.RequestTimedOut, 3)) },
		4: func() { pending = append(pending, inject(kafkatest.EndTxn, kafkatest.ConcurrentTransactions, 2)) },
		6: func() {
			pending = append(pending, inject(kafkatest.AddPartitionsToTxn, kafkatest.ConcurrentTransactions, 2))
		},
		8: func() { checks = append(checks, drop(kafkatest.Produce)) },
		10: func() {
			for p := range int32(6) {
				require.NoError(t, c.MoveLeader(topic, p, (c.LeaderOf(topic, p)+1)%3))
			}
		},
		12: func() { checks = append(checks, drop(kafkatest.EndTxn)) },
		13: func() { pending = append(pending, inject(kafkatest.EndTxn, kafkatest.RequestTimedOut, 1)) },
		15: func() { pending = append(pending, inject(kafkatest.AddPartitionsToTxn, kafkatest.NotCoordinator, 1)) },
		16: func() { pending = append(pending, inject(kafkatest.EndTxn, kafkatest.NotCoordinator, 1)) },
		18: func() { checks = append(checks, drop(kafkatest.AddPartitionsToTxn)) },
		19: func() { pending = append(pending, inject(kafkatest.EndTxn, kafkatest.ConcurrentTransactions, 3)) },
	}

	tr := newTracker()
	committed := map[string]bool{}
	var all []string
	for i := range txns {
		if f := faults[i]; f != nil {
			f()
		}
		require.NoError(t, e.Begin(), "transaction %d", i)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var vals []string
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range perKey {
					for k := w; k < keys; k += workers {
						key := fmt.Sprintf("k%02d", k)
						v := fmt.Sprintf("%s/%03d/%03d", key, i, j)
						tr.produce(e, topic, key, v)
						mu.Lock()
						vals = append(vals, v)
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		all = append(all, vals...)
		if i%4 == 2 {
			require.NoError(t, e.Abort(ctx), "abort of transaction %d", i)
			continue
		}
		require.NoError(t, e.Commit(ctx), "commit of transaction %d", i)
		for _, v := range vals {
			committed[v] = true
		}
	}
	for _, f := range pending {
		require.Equal(t, f.n, f.h.Hits(), "fault hits")
	}
	for _, check := range checks {
		check()
	}
	tr.wait(t, 10*time.Second)

	got, byKey := readCommitted(t, c, topic)
	seen := map[string]bool{}
	for _, v := range got {
		require.False(t, seen[v], "duplicate %q", v)
		seen[v] = true
		require.True(t, committed[v], "%q of an aborted transaction is visible", v)
	}
	require.Len(t, seen, len(committed), "committed records missing")
	for k, vs := range byKey {
		require.True(t, slices.IsSorted(vs), "key %s out of order", k)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	require.Len(t, tr.got, len(all))
	for v, o := range tr.got {
		require.Equal(t, 1, o.calls, "callbacks of %q", v)
		if committed[v] {
			require.NoError(t, o.err, "committed record %q", v)
		}
	}
}

// TestTxnFencing: a second engine with the same transactional ID fences
// the first, whose transactional calls then fail with class Fenced; the
// second one's transactions commit.
func TestTxnFencing(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 3))
	ctx := txnCtx(t)
	a := newTxnEngine(t, newClient(t, c), "txn-fence")
	tr := newTracker()
	require.NoError(t, a.Begin())
	tr.produce(a, topic, "k", "a/1")
	require.NoError(t, a.Commit(ctx))

	// a is mid-transaction, with a partition already added, when b
	// takes over.
	require.NoError(t, a.Begin())
	tr.produce(a, topic, "k", "a/2")
	tr.waitSettled(t, 2, 10*time.Second)
	b := newTxnEngine(t, newClient(t, c), "txn-fence")
	tr.produce(a, topic, "k", "a/3")
	tr.produce(a, topic, "other", "a/4")

	err := a.Commit(ctx)
	require.Error(t, err)
	if produce.Classify(err) != produce.Fenced {
		err = a.Abort(ctx)
	}
	require.Equal(t, produce.Fenced, produce.Classify(err), "%v", err)
	err = a.Begin()
	require.Error(t, err, "a fenced engine opens no more transactions")
	require.Equal(t, produce.Fenced, produce.Classify(err))
	require.Equal(t, produce.Fenced, produce.Classify(a.Abort(ctx)))

	require.NoError(t, b.Begin())
	tr.produce(b, topic, "k", "b/1")
	require.NoError(t, b.Commit(ctx))
	tr.wait(t, 10*time.Second)
	got, _ := readCommitted(t, c, topic)
	slices.Sort(got)
	require.Equal(t, []string{"a/1", "b/1"}, got)
}

// TestTxnOffsets: offsets added to a transaction become the group's
// committed offsets when it commits, not when it aborts; a stale group
// generation fails with class GroupFenced and the transaction aborts.
func TestTxnOffsets(t *testing.T) {
	const in, group = "in", "g"
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2), kafkatest.WithTopic(in, 2))
	e := newTxnEngine(t, newClient(t, c), "txn-offsets")
	ctx := txnCtx(t)
	meta := produce.GroupMeta{Group: group, Generation: -1}
	tr := newTracker()

	require.NoError(t, e.Begin())
	tr.produce(e, topic, "k", "out/1")
	require.NoError(t, e.AddOffsets(ctx, meta, map[string]map[int32]int64{in: {0: 10, 1: 20}}))
	require.NoError(t, e.Commit(ctx))
	got, err := c.CommittedOffsets(ctx, group, in)
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 10, 1: 20}, got)

	require.NoError(t, e.Begin())
	tr.produce(e, topic, "k", "out/2")
	require.NoError(t, e.AddOffsets(ctx, meta, map[string]map[int32]int64{in: {0: 30}}))
	require.NoError(t, e.Abort(ctx))
	got, err = c.CommittedOffsets(ctx, group, in)
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 10, 1: 20}, got, "aborted offsets became visible")

	// Offsets alone (no records) commit too.
	require.NoError(t, e.Begin())
	require.NoError(t, e.AddOffsets(ctx, meta, map[string]map[int32]int64{in: {1: 25}}))
	require.NoError(t, e.Commit(ctx))
	got, err = c.CommittedOffsets(ctx, group, in)
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 10, 1: 25}, got)

	f := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.TxnOffsetCommit}, Group: group, Err: kafkatest.IllegalGeneration})
	require.NoError(t, e.Begin())
	tr.produce(e, topic, "k", "out/3")
	err = e.AddOffsets(ctx, meta, map[string]map[int32]int64{in: {0: 40}})
	require.Equal(t, produce.GroupFenced, produce.Classify(err), "%v", err)
	require.ErrorIs(t, err, sarama.ErrIllegalGeneration)
	require.Equal(t, 1, f.Hits())
	err = e.Commit(ctx)
	require.Error(t, err, "a transaction in error does not commit")
	require.Equal(t, produce.GroupFenced, produce.Classify(err))
	require.NoError(t, e.Abort(ctx))
	got, err = c.CommittedOffsets(ctx, group, in)
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 10, 1: 25}, got)

	require.NoError(t, e.Begin())
	tr.produce(e, topic, "k", "out/4")
	require.NoError(t, e.Commit(ctx))
	tr.wait(t, 10*time.Second)
	vals, _ := readCommitted(t, c, topic)
	require.Equal(t, []string{"out/1", "out/4"}, vals)
}

// TestTxnNoProduceBeforeAddPartitions: while the coordinator sits on the
// AddPartitionsToTxn, no produce request leaves, although records wait
// and linger is zero; the partitions of the transaction go in at most two
// AddPartitionsToTxn requests (the first one's, and all that queued up
// behind it).
func TestTxnNoProduceBeforeAddPartitions(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 6))
	e := newTxnEngine(t, newClient(t, c), "txn-hold")
	ctx := txnCtx(t)

	var produced atomic.Int32
	c.Kfake().ControlKey(int16(kafkatest.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		produced.Add(1)
		return nil, nil, false
	})
	arrived, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var adds [][]int32
	c.Kfake().ControlKey(int16(kafkatest.AddPartitionsToTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		var parts []int32
		for _, tp := range req.(*kmsg.AddPartitionsToTxnRequest).Topics {
			parts = append(parts, tp.Partitions...)
		}
		mu.Lock()
		adds = append(adds, parts)
		first := len(adds) == 1
		mu.Unlock()
		if first {
			close(arrived)
			c.Kfake().SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	require.NoError(t, e.Begin())
	tr := newTracker()
	for i := range 60 {
		k := fmt.Sprintf("k%02d", i%12)
		tr.produce(e, topic, k, fmt.Sprintf("%s/%03d", k, i))
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no AddPartitionsToTxn arrived")
	}
	// Give the senders every chance to send what they must not.
	time.Sleep(300 * time.Millisecond)
	require.Zero(t, produced.Load(), "a produce request left before its partition was in the transaction")
	require.Zero(t, tr.settled.Load())
	close(release)
	require.NoError(t, e.Commit(ctx))
	require.Positive(t, produced.Load())
	tr.wait(t, 10*time.Second)

	mu.Lock()
	require.LessOrEqual(t, len(adds), 2, "AddPartitionsToTxn requests: %v", adds)
	var all []int32
	for _, a := range adds {
		all = append(all, a...)
	}
	mu.Unlock()
	slices.Sort(all)
	got, _ := readCommitted(t, c, topic)
	parts := map[int32]bool{}
	for _, v := range tr.got {
		parts[v.partition] = true
	}
	require.Len(t, all, len(parts), "partitions added: %v", all)
	require.Len(t, got, 60)
	for _, v := range got {
		require.True(t, strings.HasPrefix(v, "k"))
	}
}

// TestTxnCommitOutcomeUnknown: when every EndTxn answer is lost (the
// connection drops as the coordinator takes the request in), Commit fails
// within its context with ErrOutcomeUnknown; Abort then tells that the
// commit had happened (the coordinator has nothing open to abort), and the
// engine goes on with the next transaction.
func TestTxnCommitOutcomeUnknown(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	d := kafkatest.NewDialer()
	e := newTxnEngine(t, newClient(t, c, conn.WithDialer(d)), "txn-unknown", produce.WithRetryBackoff(20*time.Millisecond))
	tr := newTracker()

	require.NoError(t, e.Begin())
	tr.produce(e, topic, "k", "k/1")
	tr.wait(t, 10*time.Second)
	var dropping atomic.Bool
	dropping.Store(true)
	var drops atomic.Int32
	c.Kfake().ControlKey(int16(kafkatest.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !dropping.Load() {
			c.Kfake().DropControl()
			return nil, nil, false
		}
		drops.Add(1)
		d.DropConnections()
		return nil, nil, false
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := e.Commit(ctx)
	cancel()
	dropping.Store(false)
	require.ErrorIs(t, err, produce.ErrOutcomeUnknown)
	require.Positive(t, drops.Load())
	require.ErrorIs(t, e.Begin(), produce.ErrTransactionOpen, "the transaction of unknown outcome must be resolved first")

	err = e.Abort(txnCtx(t))
	require.ErrorIs(t, err, sarama.ErrInvalidTxnState, "the commit had happened: nothing to abort")
	require.Equal(t, produce.Abortable, produce.Classify(err))

	require.NoError(t, e.Begin())
	tr.produce(e, topic, "k", "k/2")
	require.NoError(t, e.Commit(txnCtx(t)))
	got, _ := readCommitted(t, c, topic)
	require.Equal(t, []string{"k/1", "k/2"}, got)
}

// TestTxnRetriesBound: with WithTxnRetries, a commit whose EndTxn times out
// on every attempt gives up after the retries with its outcome unknown;
// the abort that follows goes through once the coordinator answers, and
// nothing of the transaction is visible.
func TestTxnRetriesBound(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	e := newTxnEngine(t, newClient(t, c), "txn-retries", produce.WithTxnRetries(2))
	ctx := txnCtx(t)
	f := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.EndTxn}, Err: kafkatest.RequestTimedOut, Count: 5})
	require.NoError(t, e.Begin())
	tr := newTracker()
	tr.produce(e, topic, "k", "k/1")
	err := e.Commit(ctx)
	require.ErrorIs(t, err, produce.ErrOutcomeUnknown)
	require.ErrorIs(t, err, sarama.ErrRequestTimedOut)
	require.Equal(t, 3, f.Hits(), "one attempt and two retries")
	require.NoError(t, e.Abort(ctx))
	require.Equal(t, 5, f.Hits())
	tr.wait(t, 10*time.Second)
	got, _ := readCommitted(t, c, topic)
	require.Empty(t, got)
}

// TestTxnProducerIDWhileTheEpochIsRenewed: a partition whose sequence
// state is lost in a transaction makes Abort take a new epoch; ProducerID,
// read meanwhile from another goroutine, sees the old pair or the new one
// (the race detector checks the reads take the engine lock).
func TestTxnProducerIDWhileTheEpochIsRenewed(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	e := newTxnEngine(t, newClient(t, c), "txn-epoch-read")
	ctx := txnCtx(t)
	pid, epoch := e.ProducerID()

	h := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic,
		Err: outOfOrderSequence, Count: 1})
	defer h.Remove()
	tr := newTracker()
	require.NoError(t, e.Begin())
	tr.produce(e, topic, "k", "lost")
	tr.wait(t, 10*time.Second)
	require.Error(t, tr.got["lost"].err, "the record failed with its partition's sequence state")
	require.Positive(t, h.Hits())

	stop := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		for i := 0; i < 1_000_000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p, ep := e.ProducerID()
			if p != pid || (ep != epoch && ep != epoch+1) {
				t.Errorf("ProducerID read %d/%d, want %d with epoch %d or %d", p, ep, pid, epoch, epoch+1)
				return
			}
		}
	}()
	require.NoError(t, e.Abort(ctx))
	close(stop)
	<-read
	gotPID, gotEpoch := e.ProducerID()
	require.Equal(t, pid, gotPID)
	require.Equal(t, epoch+1, gotEpoch, "Abort took a new epoch")

	require.NoError(t, e.Begin())
	tr.produce(e, topic, "k", "next")
	require.NoError(t, e.Commit(ctx))
	tr.wait(t, 10*time.Second)
	got, _ := readCommitted(t, c, topic)
	require.Equal(t, []string{"next"}, got)
}
