package producer_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hungBound returns a correctness bound for a delivery timeout of d: the
// outcome must come near d, not after sarama's 30s read timeout. The slack
// is generous for a loaded 2-core machine.
func hungBound(d time.Duration) time.Duration { return d + 4*time.Second }

// outcomes records each SendAsync callback, to check that every record is
// reported once.
type outcomes struct {
	mu    sync.Mutex
	calls map[string]int
	errs  map[string]error
	at    map[string]time.Duration
	start time.Time
}

func newOutcomes() *outcomes {
	return &outcomes{calls: map[string]int{}, errs: map[string]error{}, at: map[string]time.Duration{}, start: time.Now()}
}

func (o *outcomes) callback(value string) func(producer.Result, error) {
	return func(_ producer.Result, err error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.calls[value]++
		o.errs[value] = err
		o.at[value] = time.Since(o.start)
	}
}

func (o *outcomes) snapshot() (calls map[string]int, errs map[string]error, at map[string]time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	calls, errs, at = map[string]int{}, map[string]error{}, map[string]time.Duration{}
	for k, v := range o.calls {
		calls[k], errs[k], at[k] = v, o.errs[k], o.at[k]
	}
	return calls, errs, at
}

func TestDeliveryTimeoutBoundsCallbacksAndFlushWhenTheBrokerHangs(t *testing.T) {
	const timeout = time.Second
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	p, err := producer.New(c.Brokers(), producer.WithDeliveryTimeout(timeout))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	_, err = p.Send(ctxFor(t, 10*time.Second), &bulwark.Message{Topic: "t", Value: []byte("warm-up")})
	require.NoError(t, err)

	// The broker takes the next produce request and does not answer: sarama
	// would wait its 30s read timeout for it.
	arrived, release := c.HoldNext(kafkatest.Produce)
	defer release()
	o := newOutcomes()
	sent := []string{"a", "b", "c"}
	for _, v := range sent {
		p.SendAsync(context.Background(), &bulwark.Message{Topic: "t", Value: []byte(v)}, o.callback(v))
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the produce request never reached the broker")
	}

	require.NoError(t, p.Flush(ctxFor(t, 20*time.Second)))
	flushed := time.Since(o.start)
	assert.Less(t, flushed, hungBound(timeout), "Flush bounded by the delivery timeout")

	calls, errs, at := o.snapshot()
	for _, v := range sent {
		assert.Equal(t, 1, calls[v], "record %s reported once", v)
		assert.ErrorIs(t, errs[v], producer.ErrDeliveryTimeout, "record %s", v)
		assert.GreaterOrEqual(t, at[v], timeout, "record %s not failed before the delivery timeout", v)
		assert.Less(t, at[v], hungBound(timeout), "record %s", v)
	}

	// The broker answers after all: the client writes the records, and its
	// late outcomes are dropped, not reported a second time. Close returns
	// once the client has settled everything.
	release()
	require.NoError(t, p.Close())
	calls, _, _ = o.snapshot()
	for _, v := range sent {
		assert.Equal(t, 1, calls[v], "record %s reported once after the client settled it", v)
	}
	assert.Equal(t, []string{"a", "b", "c", "warm-up"}, values(readTopic(t, c, "t")), "written once each")
}

func TestSendIsBoundedByTheDeliveryTimeoutWhenTheBrokerHangs(t *testing.T) {
	const timeout = time.Second
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	p := newProducer(t, c, producer.WithDeliveryTimeout(timeout))
	_, err := p.Send(ctxFor(t, 10*time.Second), &bulwark.Message{Topic: "t", Value: []byte("warm-up")})
	require.NoError(t, err)

	_, release := c.HoldNext(kafkatest.Produce)
	defer release()
	start := time.Now()
	_, err = p.Send(context.Background(), &bulwark.Message{Topic: "t", Value: []byte("held")})
	elapsed := time.Since(start)
	require.ErrorIs(t, err, producer.ErrDeliveryTimeout)
	assert.GreaterOrEqual(t, elapsed, timeout)
	assert.Less(t, elapsed, hungBound(timeout))
	release()
}

func TestTransactionWithATimedOutRecordIsAborted(t *testing.T) {
	const (
		topic   = "tx"
		timeout = time.Second
	)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	p := newTransactional(t, c, "tx-timeout", producer.WithDeliveryTimeout(timeout))
	ctx := ctxFor(t, 60*time.Second)

	arrived, release := c.HoldNext(kafkatest.Produce)
	defer release()
	o := newOutcomes()
	result := make(chan error, 1)
	go func() {
		result <- p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
			tx.SendAsync(ctx, &bulwark.Message{Topic: topic, Value: []byte("held")}, o.callback("held"))
			return nil
		})
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the produce request never reached the broker")
	}
	// The record's callback comes by the delivery timeout although the
	// broker still holds it.
	require.Eventually(t, func() bool { calls, _, _ := o.snapshot(); return calls["held"] == 1 },
		hungBound(timeout), 20*time.Millisecond, "callback bounded by the delivery timeout")
	_, errs, at := o.snapshot()
	assert.ErrorIs(t, errs["held"], producer.ErrDeliveryTimeout)
	assert.GreaterOrEqual(t, at["held"], timeout)

	// The transaction must not commit a record reported as failed: it is
	// aborted (once the client is done with the record) and stays invisible.
	release()
	select {
	case err := <-result:
		require.Error(t, err)
		assert.ErrorIs(t, err, producer.ErrAbortable)
		assert.ErrorIs(t, err, producer.ErrDeliveryTimeout)
	case <-time.After(40 * time.Second):
		t.Fatal("InTransaction did not return")
	}
	require.NoError(t, p.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
		return sendAll(ctx, tx, topic, "next")
	}), "the producer stays usable")
	assert.Equal(t, []string{"next"}, values(readTopic(t, c, topic, kafkatest.ReadCommitted())))
}

// With the broker hung and the client's buffers full, a sender waiting for
// room gives up by the delivery timeout too, also once every record inside
// the client has already expired (nothing left to watch but the waiting
// sender itself).
func TestWaitForRoomIsBoundedByTheDeliveryTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	p, err := producer.New(c.Brokers(), producer.WithDeliveryTimeout(timeout), producer.WithMaxBatchRecords(1),
		producer.WithMaxBufferedRecords(4))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	_, err = p.Send(ctxFor(t, 10*time.Second), &bulwark.Message{Topic: "t", Value: []byte("warm-up")})
	require.NoError(t, err)

	arrived, release := c.HoldNext(kafkatest.Produce)
	defer release()
	o := newOutcomes()
	// SendAsync returns once the client took the record; with one record
	// per batch, one request held and room for four records, the client is
	// full after a handful. Fill it from a goroutine: the sends that wait
	// for room must come back by themselves.
	const n = 16
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		for i := range n {
			v := strconv.Itoa(i)
			p.SendAsync(context.Background(), &bulwark.Message{Topic: "t", Value: []byte(v)}, o.callback(v))
		}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the produce request never reached the broker")
	}
	select {
	case <-filled:
	case <-time.After(n * hungBound(timeout)):
		t.Fatal("senders waiting for room in the client were not released by the delivery timeout")
	}
	require.NoError(t, p.Flush(ctxFor(t, 20*time.Second)))

	calls, errs, at := o.snapshot()
	waited := 0
	for i := range n {
		v := strconv.Itoa(i)
		require.Equal(t, 1, calls[v], "record %s reported once", v)
		require.ErrorIs(t, errs[v], producer.ErrDeliveryTimeout, "record %s", v)
		if at[v] >= 2*timeout {
			waited++ // handed over only after earlier ones expired
		}
	}
	// The client is full after a few records: most of the rest waited for
	// room, some past the point where all records inside had expired.
	assert.GreaterOrEqual(t, waited, n/4, "records that waited for room (else the test did not fill the client)")
	assert.Less(t, time.Since(o.start), n*hungBound(timeout))
	release()
}
