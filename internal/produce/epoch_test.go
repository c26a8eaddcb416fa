package produce_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce errors that lose a partition's sequence state (kafkatest names
// only the common ones).
const (
	outOfOrderSequence = kafkatest.KafkaError(45)
	duplicateSequence  = kafkatest.KafkaError(46)
	unknownProducerID  = kafkatest.KafkaError(59)
)

// TestSequenceErrorsRecover: a partition answering OUT_OF_ORDER_SEQUENCE_NUMBER,
// UNKNOWN_PRODUCER_ID or INVALID_PRODUCER_EPOCH mid-run (twice, so the
// retry under the first new epoch is refused too) makes the engine take a
// new producer epoch, and the run goes on without a duplicate or a gap:
// every record exactly once, in send order per key, sequences consecutive
// from 0 within each producer ID and epoch per partition, every callback
// once and successful.
func TestSequenceErrorsRecover(t *testing.T) {
	for name, code := range map[string]kafkatest.KafkaError{
		"out of order sequence number": outOfOrderSequence,
		"unknown producer ID":          unknownProducerID,
		"invalid producer epoch":       kafkatest.InvalidProducerEpoch,
	} {
		t.Run(name, func(t *testing.T) {
			const faulted = 2
			c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 6))
			cl := newClient(t, c)
			e := newEngine(t, cl, produce.WithMaxBatchRecords(20), produce.WithRetryBackoff(20*time.Millisecond))
			pid, epoch := e.ProducerID()
			tr := newTracker()
			var f *kafkatest.FaultHandle
			keyedLoad(t, e, tr, topic, 8, 40, 60, func() {
				// Fault the partition once it holds records, so that
				// they stay under the first epoch and the rest go
				// under a later one. The other workers go on
				// meanwhile, so more records go to it.
				waitWritten(t, c, faulted)
				f = c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic, Partitions: []int32{faulted}, Err: code, Count: 2})
			})
			waitHits(t, f, 2)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, e.Flush(ctx))
			tr.wait(t, time.Second)
			runs := verifyAcrossEpochs(t, newClient(t, c), e, tr, topic, 6)
			require.GreaterOrEqual(t, runs[faulted], 2, "partition %d wrote under one epoch only", faulted)
			newPID, newEpoch := e.ProducerID()
			require.NotEqual(t, [2]int64{pid, int64(epoch)}, [2]int64{newPID, int64(newEpoch)}, "no new producer epoch")
		})
	}
}

// waitWritten waits until partition p of topic holds a record.
func waitWritten(t *testing.T, c *kafkatest.Cluster, p int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		ends, err := c.EndOffsets(ctx, topic, false)
		if err == nil && ends[p] > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("partition %d got no record", p)
}

// TestDuplicateSequenceIsSuccess: a batch written whose answer is lost,
// and whose retry the broker answers DUPLICATE_SEQUENCE_NUMBER, succeeds
// with offset -1 (the broker does not say where it is); it is in the log
// once, and the partition goes on with the next sequence under the same
// epoch.
func TestDuplicateSequenceIsSuccess(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	d := kafkatest.NewDialer()
	cl := newClient(t, c, conn.WithDialer(d))
	e := newEngine(t, cl, produce.WithRetryBackoff(20*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ok := newTracker()
	ok.produce(e, topic, "k", "k/000001")
	require.NoError(t, e.Flush(ctx))

	// The first produce request is written but its answer lost; its
	// retry is answered DUPLICATE_SEQUENCE_NUMBER.
	var mu sync.Mutex
	calls := 0
	c.Kfake().ControlKey(int16(kafkatest.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			d.DropConnections()
			return nil, nil, false
		}
		c.Kfake().DropControl()
		return produceError(r.(*kmsg.ProduceRequest), duplicateSequence), nil, true
	})
	dup := newTracker()
	dup.produce(e, topic, "k", "k/000002")
	require.NoError(t, e.Flush(ctx))
	mu.Lock()
	require.Equal(t, 2, calls, "the batch was not retried")
	mu.Unlock()
	o := dup.got["k/000002"]
	require.Equal(t, 1, o.calls)
	require.NoError(t, o.err)
	require.Equal(t, int64(-1), o.offset)

	ok.produce(e, topic, "k", "k/000003")
	require.NoError(t, e.Flush(ctx))
	ok.wait(t, time.Second)

	// The log: all three once, in order, sequences 0, 1, 2 under the
	// engine's one producer ID and epoch.
	pid, epoch := e.ProducerID()
	var values []string
	for _, b := range readBatches(t, newClient(t, c), topic, 0) {
		require.Equal(t, pid, b.producerID)
		require.Equal(t, epoch, b.epoch)
		require.Equal(t, int32(len(values)), b.firstSeq)
		values = append(values, b.values...)
	}
	require.Equal(t, []string{"k/000001", "k/000002", "k/000003"}, values)
	ok.mu.Lock()
	defer ok.mu.Unlock()
	for v, off := range map[string]int64{"k/000001": 0, "k/000003": 2} {
		o := ok.got[v]
		require.Equal(t, 1, o.calls, v)
		require.NoError(t, o.err, v)
		require.Equal(t, off, o.offset, v)
	}
}

// TestUnknownOutcomeKeepsItsEpoch: partition b's batch is written but
// answered REQUEST_TIMED_OUT, so its outcome is unknown, and its retries
// are refused (not written) until partition a's OUT_OF_ORDER_SEQUENCE_NUMBER
// has made the engine take a new producer epoch. The retry sent after the
// bump must keep the epoch and sequence the batch was first sent with, so
// the broker recognises it as a duplicate: under the new epoch at sequence
// 0 it would be written twice. b's next batch then starts at 0 under the
// new epoch.
func TestUnknownOutcomeKeepsItsEpoch(t *testing.T) {
	const a, b = int32(0), int32(1)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	// Different leaders, so that no request holds both partitions.
	if c.LeaderOf(topic, a) == c.LeaderOf(topic, b) {
		require.NoError(t, c.MoveLeader(topic, b, (c.LeaderOf(topic, a)+1)%3))
	}
	cl := newClient(t, c)
	e := newEngine(t, cl, produce.WithManualPartitioning(), produce.WithRetryBackoff(10*time.Millisecond))
	pid, epoch := e.ProducerID()
	bumped := func() bool { p, ep := e.ProducerID(); return p != pid || ep != epoch }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := newTracker()
	produceTo := func(p int32, v string) {
		tr.produceRecord(e, produce.Record{Topic: topic, Partition: p, Key: []byte(v[:1]), Value: []byte(v)})
	}
	produceTo(a, "a/0")
	produceTo(b, "b/0")
	require.NoError(t, e.Flush(ctx))

	// b's first request: kfake writes it and answers REQUEST_TIMED_OUT.
	// Its retries: refused unwritten (a REQUEST_TIMED_OUT of our own)
	// until one is answered after the bump, so that the next is built
	// after it; that one goes through.
	timedOut := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic, Partitions: []int32{b}, Err: kafkatest.RequestTimedOut, Count: 1})
	var mu sync.Mutex
	seenB, afterBump := 0, false
	passed := make(chan struct{})
	c.Kfake().ControlKey(int16(kafkatest.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		req := r.(*kmsg.ProduceRequest)
		if len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != b {
			return nil, nil, false
		}
		mu.Lock()
		defer mu.Unlock()
		seenB++
		switch {
		case seenB == 1:
			return nil, nil, false
		case !afterBump:
			afterBump = bumped()
			c.Kfake().KeepControl()
			return produceError(req, kafkatest.RequestTimedOut), nil, true
		default:
			c.Kfake().DropControl()
			close(passed)
			return nil, nil, false
		}
	})
	produceTo(b, "b/1")
	waitHits(t, timedOut, 1)
	outOfOrder := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic, Partitions: []int32{a}, Err: outOfOrderSequence, Count: 1})
	produceTo(a, "a/1")
	waitHits(t, outOfOrder, 1)
	require.NoError(t, e.Flush(ctx))
	select {
	case <-passed:
	case <-time.After(time.Second):
		t.Fatal("b's retry after the bump did not go through")
	}
	produceTo(a, "a/2")
	produceTo(b, "b/2")
	require.NoError(t, e.Flush(ctx))
	tr.wait(t, time.Second)

	runs := verifyAcrossEpochs(t, newClient(t, c), e, tr, topic, 2)
	require.Equal(t, map[int32]int{a: 2, b: 2}, runs)
	for _, bi := range readBatches(t, newClient(t, c), topic, b) {
		if slices.Contains(bi.values, "b/1") {
			require.Equal(t, [2]int64{pid, int64(epoch)}, [2]int64{bi.producerID, int64(bi.epoch)}, "b/1 moved to the new epoch")
		}
	}
}

// produceError answers every partition of req with code, writing nothing.
func produceError(req *kmsg.ProduceRequest, code kafkatest.KafkaError) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = int16(code)
			sp.BaseOffset = -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// TestBumpRetriesInitProducerID: when the InitProducerID of a bump fails,
// the engine asks again after a pause; the partition's records wait
// meanwhile and then all succeed.
func TestBumpRetriesInitProducerID(t *testing.T) {
	c, e, ctx := onePartition(t, produce.WithRetryBackoff(10*time.Millisecond))
	tr := newTracker()
	tr.produce(e, topic, "k", "k/000001")
	require.NoError(t, e.Flush(ctx))

	initFails := c.FailNext(kafkatest.InitProducerID, kafkatest.CoordinatorNotAvailable, 2)
	outOfOrder := c.FailNext(kafkatest.Produce, outOfOrderSequence, 1)
	for _, v := range []string{"k/000002", "k/000003"} {
		tr.produce(e, topic, "k", v)
	}
	require.NoError(t, e.Flush(ctx))
	require.Equal(t, 1, outOfOrder.Hits())
	require.Equal(t, 2, initFails.Hits())
	tr.wait(t, time.Second)
	require.Equal(t, map[int32]int{0: 2}, verifyAcrossEpochs(t, newClient(t, c), e, tr, topic, 1))
}

// TestTxnSequenceErrorAborts: a transactional engine cannot take a new
// epoch in the middle of a transaction, so OUT_OF_ORDER_SEQUENCE_NUMBER
// fails the partition's records and Commit fails, abortable; Abort takes a
// new epoch from the coordinator, and the next transaction's records
// commit, from sequence 0 under it.
func TestTxnSequenceErrorAborts(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	e := newTxnEngine(t, newClient(t, c), "txn-seq")
	ctx := txnCtx(t)
	pid, epoch := e.ProducerID()

	require.NoError(t, e.Begin())
	f := c.FailNext(kafkatest.Produce, outOfOrderSequence, 1)
	tr := newTracker()
	tr.produce(e, topic, "k", "lost")
	err := e.Commit(ctx)
	require.Equal(t, produce.Abortable, produce.Classify(err), "commit: %v", err)
	require.Equal(t, 1, f.Hits())
	require.Error(t, tr.got["lost"].err)
	require.NoError(t, e.Abort(ctx))
	newPID, newEpoch := e.ProducerID()
	require.NotEqual(t, [2]int64{pid, int64(epoch)}, [2]int64{newPID, int64(newEpoch)}, "no new epoch")

	require.NoError(t, e.Begin())
	tr.produce(e, topic, "k", "kept")
	require.NoError(t, e.Commit(ctx))
	tr.wait(t, time.Second)
	require.NoError(t, tr.got["kept"].err)
	got, _ := readCommitted(t, c, topic)
	require.Equal(t, []string{"kept"}, got)
	for _, b := range readBatches(t, newClient(t, c), topic, 0) {
		if slices.Contains(b.values, "kept") {
			require.Equal(t, [2]int64{newPID, int64(newEpoch)}, [2]int64{b.producerID, int64(b.epoch)})
			require.Equal(t, int32(0), b.firstSeq)
		}
	}
}
