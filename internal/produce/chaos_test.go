package produce_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestChaos: 48k keyed records from 8 goroutines while the cluster answers
// NOT_LEADER_OR_FOLLOWER and REQUEST_TIMED_OUT, answers
// OUT_OF_ORDER_SEQUENCE_NUMBER and UNKNOWN_PRODUCER_ID on a partition each
// (new producer epochs), drops connections with a request in flight, moves
// leaders and restarts a broker, each fault at its own point of the run
// (the buffer cap keeps producing paced with acks). Read back: every
// record exactly once, in send order per key, sequences consecutive per
// partition within each producer epoch, every callback once.
func TestChaos(t *testing.T) { chaos(t) }

// TestChaosMaxInFlight is TestChaos with up to five requests in flight
// per broker.
func TestChaosMaxInFlight(t *testing.T) { chaos(t, produce.WithMaxInFlight(5)) }

func chaos(t *testing.T, opts ...produce.Option) {
	const workers, keys, perKey = 8, 64, 750
	const total = keys * perKey
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 6))
	d := kafkatest.NewDialer()
	cl := newClient(t, c, conn.WithDialer(d))
	e := newEngine(t, cl, append([]produce.Option{produce.WithMaxBufferedRecords(2000), produce.WithMaxBatchRecords(200), produce.WithRetryBackoff(20 * time.Millisecond)}, opts...)...)
	tr := newTracker()

	// The faults run on their own goroutine, so they report with assert,
	// never FailNow.
	hits := func(f *kafkatest.FaultHandle, n int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, f.Wait(ctx, n), "fault hit %d of %d times", f.Hits(), n)
	}
	faults := []func(){
		func() {
			hits(c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Err: kafkatest.NotLeaderOrFollower, Count: 4}), 4)
		},
		func() {
			hits(c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Err: kafkatest.RequestTimedOut, Count: 4}), 4)
		},
		// Lost sequence state on one partition each: the engine takes
		// a new producer epoch (KIP-360) and goes on.
		func() {
			hits(c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic, Partitions: []int32{1}, Err: outOfOrderSequence, Count: 2}), 2)
		},
		func() {
			hits(c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic, Partitions: []int32{4}, Err: unknownProducerID, Count: 2}), 2)
		},
		func() {
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
				t.Error("no produce request arrived")
			}
		},
		func() {
			for p := range int32(6) {
				assert.NoError(t, c.MoveLeader(topic, p, (c.LeaderOf(topic, p)+1)%3))
			}
		},
		func() {
			addr := c.BrokerAddr(2)
			assert.NoError(t, c.StopBroker(2))
			d.Cut(addr)
			tr.waitSettled(t, tr.settled.Load()+500, 20*time.Second)
			d.Restore(addr)
			assert.NoError(t, c.RestartBroker(2))
		},
	}
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		for i, inject := range faults {
			tr.waitSettled(t, int64((i+1)*total/(len(faults)+2)), 20*time.Second)
			inject()
		}
	}()
	keyedLoad(t, e, tr, topic, workers, keys, perKey, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.Flush(ctx))
	<-chaosDone
	tr.wait(t, time.Second)
	require.Len(t, tr.got, total)
	runs := verifyAcrossEpochs(t, newClient(t, c), e, tr, topic, 6)
	require.GreaterOrEqual(t, runs[1], 2, "partition 1 wrote under one epoch only")
	require.GreaterOrEqual(t, runs[4], 2, "partition 4 wrote under one epoch only")
}
