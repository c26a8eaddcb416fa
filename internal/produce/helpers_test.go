package produce_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newClient returns a sarama client for c, closed at cleanup, with quick
// metadata retries so fault tests recover fast.
func newClient(t testing.TB, c *kafkatest.Cluster, opts ...conn.Option) sarama.Client {
	t.Helper()
	cl, _ := newAbortableClient(t, c, opts...)
	return cl
}

// newAbortableClient is newClient with the Aborter cutting its connections.
func newAbortableClient(t testing.TB, c *kafkatest.Cluster, opts ...conn.Option) (sarama.Client, *saramax.Aborter) {
	t.Helper()
	return newTunedClient(t, c, nil, opts...)
}

// newTunedClient is newAbortableClient with tune (if not nil) changing
// the client's config.
func newTunedClient(t testing.TB, c *kafkatest.Cluster, tune func(*sarama.Config), opts ...conn.Option) (sarama.Client, *saramax.Aborter) {
	t.Helper()
	s, err := conn.Build(append(c.ConnOptions(), opts...)...)
	require.NoError(t, err)
	cfg, err := saramax.NewConfig(s)
	require.NoError(t, err)
	cfg.Metadata.Retry.Backoff = 20 * time.Millisecond
	cfg.Metadata.Retry.Max = 10
	if tune != nil {
		tune(cfg)
	}
	require.NoError(t, saramax.Validate(cfg))
	a := saramax.MakeAbortable(cfg)
	cl, err := sarama.NewClient(c.Brokers(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })
	return cl, a
}

func newEngine(t testing.TB, cl sarama.Client, opts ...produce.Option) *produce.Engine {
	t.Helper()
	e, err := produce.New(cl, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Close(ctx)
	})
	return e
}

// onePartition starts a cluster with a one-partition topic and an engine
// on it, and returns them with a context that bounds the test's waits.
func onePartition(t *testing.T, opts ...produce.Option) (*kafkatest.Cluster, *produce.Engine, context.Context) {
	t.Helper()
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	e := newEngine(t, newClient(t, c), opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c, e, ctx
}

// outcome is what one record's callback reported.
type outcome struct {
	calls     int
	partition int32
	offset    int64
	err       error
}

// tracker records every callback, keyed by the record's value.
type tracker struct {
	mu      sync.Mutex
	got     map[string]*outcome
	done    sync.WaitGroup
	settled atomic.Int64 // records whose callback has run
}

func newTracker() *tracker { return &tracker{got: map[string]*outcome{}} }

func (tr *tracker) produce(e *produce.Engine, topic, key, value string) {
	tr.produceRecord(e, produce.Record{Topic: topic, Key: []byte(key), Value: []byte(value)})
}

// produceRecord is produce for any record; its value must be unique.
func (tr *tracker) produceRecord(e *produce.Engine, r produce.Record) {
	value := string(r.Value)
	tr.mu.Lock()
	tr.got[value] = &outcome{}
	tr.mu.Unlock()
	tr.done.Add(1)
	e.Produce(context.Background(), r, func(p int32, off int64, err error) {
		tr.mu.Lock()
		o := tr.got[value]
		o.calls++
		first := o.calls == 1
		o.partition, o.offset, o.err = p, off, err
		tr.mu.Unlock()
		if first {
			tr.settled.Add(1)
			tr.done.Done()
		}
	})
}

// flush flushes e and waits for every callback tr expects.
func (tr *tracker) flush(t *testing.T, e *produce.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.Flush(ctx))
	tr.wait(t, time.Second)
}

// waitSettled waits until n callbacks have run, failing the test after d.
func (tr *tracker) waitSettled(t *testing.T, n int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for tr.settled.Load() < n {
		if time.Now().After(deadline) {
			t.Errorf("only %d of %d callbacks within %v", tr.settled.Load(), n, d)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// wait waits for every callback, failing the test after d.
func (tr *tracker) wait(t *testing.T, d time.Duration) {
	t.Helper()
	ch := make(chan struct{})
	go func() { tr.done.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("callbacks not all called within %v", d)
	}
}

// keyedLoad produces perKey records for each of keys keys from workers
// goroutines (each owning whole keys, so per-key send order is defined),
// values "key/i". mid runs once, after about a third of the records.
func keyedLoad(t *testing.T, e *produce.Engine, tr *tracker, topic string, workers, keys, perKey int, mid func()) {
	t.Helper()
	var wg sync.WaitGroup
	var once sync.Once
	total := keys * perKey
	var sentMu sync.Mutex
	sent := 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perKey {
				for k := w; k < keys; k += workers {
					key := fmt.Sprintf("k%03d", k)
					tr.produce(e, topic, key, fmt.Sprintf("%s/%06d", key, i))
				}
				sentMu.Lock()
				sent += (keys + workers - 1 - w) / workers
				third := sent >= total/3
				sentMu.Unlock()
				if third && mid != nil {
					once.Do(mid)
				}
			}
		}()
	}
	wg.Wait()
}

// batchInfo is one record batch as the broker stored it.
type batchInfo struct {
	producerID int64
	epoch      int16
	firstSeq   int32
	baseOffset int64
	codec      sarama.CompressionCodec
	values     []string
	keys       []string
}

// readBatches reads every record batch of topic/partition from offset 0
// to the high watermark with raw fetches, to see producer IDs and
// sequences, which consumers do not expose.
func readBatches(t *testing.T, cl sarama.Client, topic string, partition int32) []batchInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var out []batchInfo
	var next int64
	for {
		require.True(t, time.Now().Before(deadline), "read-back of %s/%d timed out", topic, partition)
		require.NoError(t, cl.RefreshMetadata(topic))
		b, err := cl.Leader(topic, partition)
		require.NoError(t, err)
		req := &sarama.FetchRequest{Version: 4, MaxWaitTime: 50, MinBytes: 1, MaxBytes: 16 << 20, Isolation: sarama.ReadUncommitted}
		req.AddBlock(topic, partition, next, 16<<20, -1)
		resp, err := b.Fetch(req)
		if err != nil {
			_ = b.Close()
			continue
		}
		blk := resp.GetBlock(topic, partition)
		require.NotNil(t, blk)
		if blk.Err != sarama.ErrNoError {
			continue
		}
		for _, rs := range blk.RecordsSet {
			rb := rs.RecordBatch
			if rb == nil || rb.FirstOffset < next {
				continue
			}
			bi := batchInfo{producerID: rb.ProducerID, epoch: rb.ProducerEpoch, firstSeq: rb.FirstSequence, baseOffset: rb.FirstOffset, codec: rb.Codec}
			for _, r := range rb.Records {
				bi.values = append(bi.values, string(r.Value))
				bi.keys = append(bi.keys, string(r.Key))
			}
			out = append(out, bi)
			next = rb.FirstOffset + int64(len(rb.Records))
		}
		if next >= blk.HighWaterMarkOffset {
			return out
		}
	}
}

// verify checks what topic holds against tr: every record exactly once,
// each key's records in send order, per partition consecutive sequences
// from 0 under one producer ID and epoch, and every callback called once,
// without error, with the partition and offset the record has.
func verify(t *testing.T, cl sarama.Client, e *produce.Engine, tr *tracker, topic string, partitions int32) {
	t.Helper()
	verifyLog(t, cl, e, tr, topic, partitions, false)
}

// verifyAcrossEpochs is verify for a run in which the engine took new
// producer epochs (KIP-360): per partition, the batches of each producer
// ID and epoch form one run, in log order, with consecutive sequences from
// 0, and no run's identity comes back after a later one. It returns the
// number of runs per partition.
func verifyAcrossEpochs(t *testing.T, cl sarama.Client, e *produce.Engine, tr *tracker, topic string, partitions int32) map[int32]int {
	t.Helper()
	return verifyLog(t, cl, e, tr, topic, partitions, true)
}

func verifyLog(t *testing.T, cl sarama.Client, e *produce.Engine, tr *tracker, topic string, partitions int32, acrossEpochs bool) map[int32]int {
	t.Helper()
	type identity struct {
		pid   int64
		epoch int16
	}
	pid, epoch := e.ProducerID()
	seen := map[string]bool{}
	lastOfKey := map[string]string{}
	runs := map[int32]int{}
	for p := range partitions {
		seq := int32(0)
		var cur identity
		had := map[identity]bool{}
		for _, b := range readBatches(t, cl, topic, p) {
			if id := (identity{b.producerID, b.epoch}); !acrossEpochs {
				require.Equal(t, pid, b.producerID, "partition %d producer ID", p)
				require.Equal(t, epoch, b.epoch, "partition %d epoch", p)
				runs[p] = 1
			} else if runs[p] == 0 || id != cur {
				require.False(t, had[id], "partition %d: producer %d epoch %d comes back at offset %d", p, id.pid, id.epoch, b.baseOffset)
				had[id] = true
				cur = id
				seq = 0
				runs[p]++
			}
			require.Equal(t, seq, b.firstSeq, "partition %d: sequence gap or repeat at offset %d", p, b.baseOffset)
			seq += int32(len(b.values))
			for i, v := range b.values {
				require.False(t, seen[v], "duplicate record %q", v)
				seen[v] = true
				k := b.keys[i]
				require.Less(t, lastOfKey[k], v, "key %s out of order", k)
				lastOfKey[k] = v
				tr.mu.Lock()
				o := tr.got[v]
				tr.mu.Unlock()
				require.NotNil(t, o, "unknown record %q", v)
				require.Equal(t, p, o.partition, "callback partition of %q", v)
				require.Equal(t, b.baseOffset+int64(i), o.offset, "callback offset of %q", v)
			}
		}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for v, o := range tr.got {
		require.Equal(t, 1, o.calls, "callbacks of %q", v)
		require.NoError(t, o.err, "record %q", v)
		require.True(t, seen[v], "record %q lost", v)
	}
	require.Len(t, seen, len(tr.got))
	return runs
}

// flushAll flushes e and waits for every callback tr tracks.
func flushAll(t *testing.T, e *produce.Engine, tr *tracker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.Flush(ctx))
	tr.wait(t, time.Second)
}

// holdProduce makes kfake sit on the next produce request until the test's
// cleanup, which runs before the cluster's (registered later, run first);
// the channel closes when the request arrives. HoldNext is not used: a
// request kfake sleeps on when the cluster closes strands one of its
// goroutines.
func holdProduce(t *testing.T, c *kafkatest.Cluster) <-chan struct{} {
	t.Helper()
	arrived, block := make(chan struct{}), make(chan struct{})
	c.Kfake().ControlKey(int16(kafkatest.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.Kfake().DropControl()
		close(arrived)
		<-block
		return nil, nil, false
	})
	t.Cleanup(func() { close(block) })
	return arrived
}
