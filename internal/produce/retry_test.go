package produce_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRetriesKeepSequences injects each retriable fault while 8 goroutines
// produce keyed records, and checks the read-back: every record exactly
// once, in send order per key, sequences consecutive per partition, every
// callback once with the record's offset.
func TestRetriesKeepSequences(t *testing.T) {
	cases := map[string]func(t *testing.T, c *kafkatest.Cluster, d *kafkatest.Dialer){
		"not leader or follower": func(t *testing.T, c *kafkatest.Cluster, _ *kafkatest.Dialer) {
			f := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Err: kafkatest.NotLeaderOrFollower, Count: 5})
			waitHits(t, f, 5)
		},
		"request timed out": func(t *testing.T, c *kafkatest.Cluster, _ *kafkatest.Dialer) {
			f := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Err: kafkatest.RequestTimedOut, Count: 5})
			waitHits(t, f, 5)
		},
		"not enough replicas on one partition": func(t *testing.T, c *kafkatest.Cluster, _ *kafkatest.Dialer) {
			f := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic, Partitions: []int32{2}, Err: kafkatest.NotEnoughReplicas, Count: 3})
			waitHits(t, f, 3)
		},
		// The request is written but its response is lost: the retry
		// must be recognised as a duplicate, not appended again.
		"connection dropped with a request in flight": func(t *testing.T, c *kafkatest.Cluster, d *kafkatest.Dialer) {
			for range 3 {
				// Drop the client's connections as the broker takes a
				// produce request in: it still appends the batch, but
				// the response never reaches the client.
				hit := make(chan struct{})
				c.Kfake().ControlKey(int16(kafkatest.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
					c.Kfake().DropControl()
					d.DropConnections()
					close(hit)
					return nil, nil, false
				})
				select {
				case <-hit:
				case <-time.After(10 * time.Second):
					t.Fatal("no produce request arrived")
				}
			}
		},
		"leaders move": func(t *testing.T, c *kafkatest.Cluster, _ *kafkatest.Dialer) {
			for p := range int32(6) {
				require.NoError(t, c.MoveLeader(topic, p, (c.LeaderOf(topic, p)+1)%3))
			}
		},
		"broker restart": func(t *testing.T, c *kafkatest.Cluster, d *kafkatest.Dialer) {
			addr := c.BrokerAddr(1)
			require.NoError(t, c.StopBroker(1))
			d.Cut(addr)
			time.Sleep(200 * time.Millisecond) // let produce requests fail against it
			d.Restore(addr)
			require.NoError(t, c.RestartBroker(1))
		},
	}
	for name, inject := range cases {
		t.Run(name, func(t *testing.T) {
			c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 6))
			d := kafkatest.NewDialer()
			cl := newClient(t, c, conn.WithDialer(d))
			e := newEngine(t, cl, produce.WithMaxBatchRecords(20), produce.WithRetryBackoff(20*time.Millisecond))
			tr := newTracker()
			keyedLoad(t, e, tr, topic, 8, 40, 60, func() { inject(t, c, d) })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, e.Flush(ctx))
			tr.wait(t, time.Second)
			verify(t, newClient(t, c), e, tr, topic, 6)
		})
	}
}

func waitHits(t *testing.T, f *kafkatest.FaultHandle, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.Wait(ctx, n), "fault hit %d of %d times", f.Hits(), n)
}

// TestRejectedBatchGivesSequencesBack: a batch the broker rejects for good
// fails its records, and the next records reuse its sequences, so the
// partition goes on without an OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestRejectedBatchGivesSequencesBack(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	cl := newClient(t, c)
	e := newEngine(t, cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ok := newTracker()
	ok.produce(e, topic, "k", "a/000001")
	require.NoError(t, e.Flush(ctx))

	f := c.FailNext(kafkatest.Produce, kafkatest.TopicAuthorizationFailed, 1)
	var rejected error
	calls := 0
	e.Produce(context.Background(), produce.Record{Topic: topic, Key: []byte("k"), Value: []byte("rejected")}, func(_ int32, _ int64, err error) {
		calls++
		rejected = err
	})
	require.NoError(t, e.Flush(ctx))
	require.Equal(t, 1, f.Hits())
	require.Equal(t, 1, calls)
	require.Error(t, rejected)

	for _, v := range []string{"a/000002", "a/000003"} {
		ok.produce(e, topic, "k", v)
	}
	require.NoError(t, e.Flush(ctx))
	ok.wait(t, time.Second)
	verify(t, newClient(t, c), e, ok, topic, 1)
}

// TestRejectedRetryOfUnknownOutcome: a batch written but answered
// REQUEST_TIMED_OUT, whose retry is then rejected for good, may be in the
// log, so its sequences are not given back (the next batch would be taken
// for a duplicate of it and dropped): it fails with ErrMaybeWritten and
// the broker's error, and the partition goes on under a new epoch.
func TestRejectedRetryOfUnknownOutcome(t *testing.T) {
	c, e, ctx := onePartition(t, produce.WithRetryBackoff(10*time.Millisecond))
	ok := newTracker()
	ok.produce(e, topic, "k", "k/000001")
	require.NoError(t, e.Flush(ctx))

	// The first send: kfake writes it and answers REQUEST_TIMED_OUT.
	// The retry: refused.
	timedOut := c.FailNext(kafkatest.Produce, kafkatest.RequestTimedOut, 1)
	calls := 0
	c.Kfake().ControlKey(int16(kafkatest.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		if calls++; calls == 1 {
			return nil, nil, false
		}
		c.Kfake().DropControl()
		return produceError(r.(*kmsg.ProduceRequest), kafkatest.TopicAuthorizationFailed), nil, true
	})
	lost := newTracker()
	lost.produce(e, topic, "k", "k/000002")
	require.NoError(t, e.Flush(ctx))
	require.Equal(t, 1, timedOut.Hits())
	o := lost.got["k/000002"]
	require.Equal(t, 1, o.calls)
	require.ErrorIs(t, o.err, produce.ErrMaybeWritten)
	require.ErrorIs(t, o.err, sarama.ErrTopicAuthorizationFailed)

	ok.produce(e, topic, "k", "k/000003")
	require.NoError(t, e.Flush(ctx))
	ok.wait(t, time.Second)
	var values []string
	for _, b := range readBatches(t, newClient(t, c), topic, 0) {
		for i, v := range b.values {
			if o := ok.got[v]; o != nil {
				require.NoError(t, o.err, v)
				require.Equal(t, b.baseOffset+int64(i), o.offset, v)
			}
		}
		values = append(values, b.values...)
	}
	require.Equal(t, []string{"k/000001", "k/000002", "k/000003"}, values)
	pid, epoch := e.ProducerID()
	last := readBatches(t, newClient(t, c), topic, 0)[2]
	require.Equal(t, [2]int64{pid, int64(epoch)}, [2]int64{last.producerID, int64(last.epoch)})
	require.Equal(t, int32(0), last.firstSeq)
}

// TestDeliveryTimeout: records that cannot be acknowledged fail within the
// delivery timeout, each callback once; one that was sent fails with
// ErrMaybeWritten (kfake writes a batch it answers REQUEST_TIMED_OUT).
// The partition then goes on under a new producer epoch from sequence 0,
// without sending a timed-out record again.
func TestDeliveryTimeout(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	cl := newClient(t, c)
	e := newEngine(t, cl, produce.WithDeliveryTimeout(500*time.Millisecond), produce.WithRetryBackoff(20*time.Millisecond))
	f := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Err: kafkatest.RequestTimedOut, Count: -1})
	defer f.Remove()

	tr := newTracker()
	start := time.Now()
	for _, v := range []string{"a", "b", "c"} {
		tr.produce(e, topic, "k", v)
	}
	tr.wait(t, 10*time.Second)
	require.Less(t, time.Since(start), 10*time.Second)
	for v, o := range tr.got {
		require.Equal(t, 1, o.calls, v)
		require.ErrorIs(t, o.err, produce.ErrDeliveryTimeout, v)
	}
	// a went out at once, alone in its batch.
	require.ErrorIs(t, tr.got["a"].err, produce.ErrMaybeWritten)

	f.Remove()
	ok := newTracker()
	ok.produce(e, topic, "k", "d")
	ok.wait(t, 10*time.Second)
	require.NoError(t, ok.got["d"].err)

	pid, epoch := e.ProducerID()
	batches := readBatches(t, newClient(t, c), topic, 0)
	require.NotEmpty(t, batches)
	last := batches[len(batches)-1]
	require.Equal(t, []string{"d"}, last.values)
	require.Equal(t, int32(0), last.firstSeq)
	require.Equal(t, [2]int64{pid, int64(epoch)}, [2]int64{last.producerID, int64(last.epoch)})
	require.Equal(t, last.baseOffset, ok.got["d"].offset)
	seen := map[string]bool{}
	for _, b := range batches[:len(batches)-1] {
		require.NotEqual(t, [2]int64{pid, int64(epoch)}, [2]int64{b.producerID, int64(b.epoch)}, "a timed-out record under the new epoch")
		for _, v := range b.values {
			require.False(t, seen[v], "duplicate %q", v)
			seen[v] = true
		}
	}
}

// TestCloseBounded: with the broker sitting on a produce request, Close
// returns within its bound, every callback is called once (ErrClosed for
// the records left), and Close is idempotent; Produce after Close fails.
func TestCloseBounded(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 3))
	cl, aborter := newAbortableClient(t, c)
	e, err := produce.New(cl, produce.WithAbort(aborter.Abort))
	require.NoError(t, err)
	arrived := holdProduce(t, c)
	tr := newTracker()
	for i := range 100 {
		tr.produce(e, topic, string(rune('a'+i%26)), string(rune(1000+i)))
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no produce request arrived")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = e.Close(ctx)
	require.Less(t, time.Since(start), 5*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	tr.wait(t, time.Second)
	closed := 0
	for v, o := range tr.got {
		require.Equal(t, 1, o.calls, v)
		if errors.Is(o.err, produce.ErrClosed) {
			closed++
		}
	}
	require.Positive(t, closed)
	require.Equal(t, err, e.Close(context.Background()))

	var after error
	e.Produce(context.Background(), produce.Record{Topic: topic, Value: []byte("late")}, func(_ int32, _ int64, err error) { after = err })
	require.ErrorIs(t, after, produce.ErrClosed)
}

// TestLingerAndFlush: with a long linger nothing is sent until Flush, which
// sends at once.
func TestLingerAndFlush(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	cl := newClient(t, c)
	e := newEngine(t, cl, produce.WithLinger(time.Hour))
	tr := newTracker()
	for _, v := range []string{"a/1", "a/2", "a/3"} {
		tr.produce(e, topic, "a", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := c.EndOffsets(ctx, topic, false)
	require.NoError(t, err)
	require.Zero(t, ends[0]+ends[1], "records sent before the linger ended")
	require.NoError(t, e.Flush(ctx))
	tr.wait(t, time.Second)
	verify(t, newClient(t, c), e, tr, topic, 2)
}

// TestSequenceErrorBumpsTheEpoch: OUT_OF_ORDER_SEQUENCE_NUMBER on one
// partition makes the engine take a new producer epoch (KIP-360). The
// refused batch was not written, so it goes again at sequence 0 under the
// new epoch; the other partition's records before the bump stay under the
// old one and the next start again at 0. Nothing fails, nothing is
// reordered or written twice.
func TestSequenceErrorBumpsTheEpoch(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	cl := newClient(t, c)
	e := newEngine(t, cl, produce.WithManualPartitioning())
	pid, epoch := e.ProducerID()
	old := [2]int64{pid, int64(epoch)}
	f := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic, Partitions: []int32{0}, Err: outOfOrderSequence, Count: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	errs := map[int32][]error{}
	var mu sync.Mutex
	produceTo := func(p int32, v string) {
		e.Produce(ctx, produce.Record{Topic: topic, Partition: p, Value: []byte(v)}, func(got int32, _ int64, err error) {
			mu.Lock()
			defer mu.Unlock()
			errs[got] = append(errs[got], err)
		})
	}
	for _, v := range []string{"a", "b", "c"} {
		produceTo(0, v)
		produceTo(1, v)
	}
	require.NoError(t, e.Flush(ctx))
	require.Equal(t, 1, f.Hits())
	produceTo(0, "d")
	produceTo(1, "d")
	require.NoError(t, e.Flush(ctx))

	mu.Lock()
	defer mu.Unlock()
	for p := range int32(2) {
		require.Len(t, errs[p], 4)
		for _, err := range errs[p] {
			require.NoError(t, err)
		}
	}
	pid, epoch = e.ProducerID()
	bumped := [2]int64{pid, int64(epoch)}
	require.NotEqual(t, old, bumped)

	rc := newClient(t, c)
	var values []string
	for _, b := range readBatches(t, rc, topic, 0) {
		require.Equal(t, bumped, [2]int64{b.producerID, int64(b.epoch)}, "partition 0 wrote under the refused epoch")
		require.Equal(t, int32(len(values)), b.firstSeq)
		values = append(values, b.values...)
	}
	require.Equal(t, []string{"a", "b", "c", "d"}, values)

	values = nil
	seq, under := int32(0), old
	for _, b := range readBatches(t, rc, topic, 1) {
		if id := [2]int64{b.producerID, int64(b.epoch)}; id != under {
			require.Equal(t, old, under, "partition 1 changed epoch twice")
			require.Equal(t, bumped, id)
			seq, under = 0, id
		}
		require.Equal(t, seq, b.firstSeq)
		seq += int32(len(b.values))
		values = append(values, b.values...)
	}
	require.Equal(t, []string{"a", "b", "c", "d"}, values)
	require.Equal(t, bumped, under, "partition 1 did not move to the new epoch")
}

// TestOutageWithNothingSentKeepsThePartition: while no connection to the
// broker can be made, nothing goes out, so records that time out give
// their sequences back and the partition works again once the broker is
// reachable, with consecutive sequences (a sequence given to a record
// that never left would be a gap the broker refuses).
func TestOutageWithNothingSentKeepsThePartition(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	d := kafkatest.NewDialer()
	cl := newClient(t, c, conn.WithDialer(d))
	e := newEngine(t, cl, produce.WithDeliveryTimeout(700*time.Millisecond), produce.WithRetryBackoff(20*time.Millisecond))

	ok := newTracker()
	ok.produce(e, topic, "k", "a")
	ok.wait(t, 10*time.Second)

	d.Kill()
	lost := newTracker()
	lost.produce(e, topic, "k", "b")
	lost.produce(e, topic, "k", "c")
	lost.wait(t, 10*time.Second)
	for v, o := range lost.got {
		require.Equal(t, 1, o.calls, v)
		require.ErrorIs(t, o.err, produce.ErrDeliveryTimeout, v)
		require.NotErrorIs(t, o.err, produce.ErrMaybeWritten, "%s: nothing was sent, so the partition's sequences are intact", v)
	}

	d.Revive()
	ok.produce(e, topic, "k", "d")
	ok.wait(t, 10*time.Second)
	verify(t, newClient(t, c), e, ok, topic, 1)
}
