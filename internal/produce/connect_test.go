package produce_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func connect(t *testing.T, c *kafkatest.Cluster, opts ...produce.Option) *produce.Connected {
	t.Helper()
	s, err := conn.Build(c.ConnOptions()...)
	require.NoError(t, err)
	cfg, err := saramax.NewConfig(s)
	require.NoError(t, err)
	require.NoError(t, saramax.Validate(cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := produce.Connect(ctx, c.Brokers(), cfg, s, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func produceWait(t *testing.T, e *produce.Connected, r produce.Record) error {
	t.Helper()
	got := make(chan error, 1)
	e.Produce(context.Background(), r, func(_ int32, _ int64, err error) { got <- err })
	select {
	case err := <-got:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("no callback")
		return nil
	}
}

// TestConnectedCloseIsBoundedWhenTheBrokerHangs: Close with a request the
// broker never answers returns by its context's end, having cut the
// connections, and the held record fails with ErrClosed; the client is
// closed with the engine (goleak in TestMain checks nothing is left).
func TestConnectedCloseIsBoundedWhenTheBrokerHangs(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	e := connect(t, c)
	require.NoError(t, produceWait(t, e, produce.Record{Topic: topic, Value: []byte("warm-up")}))

	arrived := holdProduce(t, c)
	got := make(chan error, 1)
	e.Produce(context.Background(), produce.Record{Topic: topic, Value: []byte("held")}, func(_ int32, _ int64, err error) { got <- err })
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the produce request never reached the broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.ErrorIs(t, e.Close(ctx), context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second, "Close bounded by its context")
	require.ErrorIs(t, <-got, produce.ErrClosed)
	require.ErrorIs(t, e.Close(ctx), context.DeadlineExceeded, "a second Close returns the first's result")
}

// fakeDeadline expires when passed is closed.
type fakeDeadline struct {
	passed  chan struct{}
	waiting atomic.Int32
	waited  atomic.Bool
}

func (d *fakeDeadline) Waiting(on bool) {
	if on {
		d.waited.Store(true)
		d.waiting.Add(1)
	} else {
		d.waiting.Add(-1)
	}
}

func (d *fakeDeadline) Expired() (bool, <-chan struct{}) {
	select {
	case <-d.passed:
		return true, nil
	default:
		return false, d.passed
	}
}

// TestProduceWithinEndsTheWaitForRoomAtTheDeadline: with the buffer full
// (its one record held by the broker), a record waits for room until its
// deadline passes, then fails with ErrDeliveryTimeout.
func TestProduceWithinEndsTheWaitForRoomAtTheDeadline(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	e := connect(t, c, produce.WithMaxBufferedRecords(1))
	arrived, release := c.HoldNext(kafkatest.Produce)
	defer release()
	held := make(chan error, 1)
	e.Produce(context.Background(), produce.Record{Topic: topic, Value: []byte("held")}, func(_ int32, _ int64, err error) { held <- err })
	<-arrived

	dl := &fakeDeadline{passed: make(chan struct{})}
	got := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		e.ProduceWithin(context.Background(), produce.Record{Topic: topic, Value: []byte("waits")}, func(_ int32, _ int64, err error) { got <- err }, dl)
	}()
	require.Eventually(t, func() bool { return dl.waiting.Load() == 1 }, 10*time.Second, time.Millisecond, "waiting for room")
	select {
	case <-returned:
		t.Fatal("ProduceWithin returned with no room")
	default:
	}
	close(dl.passed)
	<-returned
	require.ErrorIs(t, <-got, produce.ErrDeliveryTimeout)
	assert.True(t, dl.waited.Load())
	assert.Zero(t, dl.waiting.Load(), "the wait ended")
	release()
	require.NoError(t, <-held)
}

// TestRecordFaultsFailAtOnce: a record over the size limit, or for a
// partition that does not exist, fails without reaching the cluster,
// matching sarama's error for it.
func TestRecordFaultsFailAtOnce(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
	e := connect(t, c, produce.WithMaxRecordBytes(200), produce.WithManualPartitioning())
	err := produceWait(t, e, produce.Record{Topic: topic, Value: make([]byte, 300)})
	require.True(t, errors.Is(err, sarama.ErrMessageSizeTooLarge), "%v", err)
	err = produceWait(t, e, produce.Record{Topic: topic, Partition: 2, Value: []byte("v")})
	require.True(t, errors.Is(err, sarama.ErrInvalidPartition), "%v", err)
	require.NoError(t, produceWait(t, e, produce.Record{Topic: topic, Partition: 1, Value: make([]byte, 100)}))
	ends, err := c.EndOffsets(context.Background(), topic, false)
	require.NoError(t, err)
	assert.Equal(t, int64(0), ends[0])
	assert.Equal(t, int64(1), ends[1])
}
