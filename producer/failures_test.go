package producer_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBadOptionsFailNewWithAClearError(t *testing.T) {
	// Validation happens before any connection: the address is never dialled.
	brokers := []string{"127.0.0.1:1"}
	cases := []struct {
		name    string
		opts    []producer.Option
		mention string
		conn    bool
	}{
		{"negative delivery timeout", []producer.Option{producer.WithDeliveryTimeout(-time.Second)}, "delivery timeout", false},
		{"backoff longer than delivery timeout", []producer.Option{producer.WithDeliveryTimeout(time.Second), producer.WithRetryBackoff(2 * time.Second)}, "retry backoff", false},
		{"unknown compression", []producer.Option{producer.WithCompression("brotli")}, "brotli", false},
		{"negative linger", []producer.Option{producer.WithLinger(-1)}, "linger", false},
		{"negative batch", []producer.Option{producer.WithMaxBatchRecords(-1)}, "batch", false},
		{"zero close timeout", []producer.Option{producer.WithCloseTimeout(0)}, "close timeout", false},
		{"nil logger", []producer.Option{producer.WithLogger(nil)}, "logger", false},
		{"nil sarama hook", []producer.Option{producer.WithSaramaConfig(nil)}, "hook", false},
		{"bad client ID", []producer.Option{producer.WithConnection(conn.WithClientID("has space"))}, "has space", true},
		{"bad Kafka version", []producer.Option{producer.WithConnection(conn.WithKafkaVersion("three"))}, "version", true},
		{"escape hatch breaks idempotence", []producer.Option{producer.WithSaramaConfig(func(c *sarama.Config) { c.Net.MaxOpenRequests = 5 })}, "MaxOpenRequests", true},
		{"escape hatch turns results off", []producer.Option{producer.WithSaramaConfig(func(c *sarama.Config) { c.Producer.Return.Successes = false })}, "Return.Successes", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			p, err := producer.New(brokers, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, producer.ErrInvalidConfig)
			if tc.conn {
				assert.ErrorIs(t, err, conn.ErrInvalidSettings)
			}
			assert.Contains(t, err.Error(), tc.mention)
			assert.Less(t, time.Since(start), time.Second, "no connection attempt")
		})
	}

	_, err := producer.New(nil)
	assert.ErrorIs(t, err, producer.ErrInvalidConfig)
	_, err = producer.NewTransactional(brokers, "")
	assert.ErrorIs(t, err, producer.ErrInvalidConfig)
}

func TestNewFailsFastWhenNoBrokerAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	start := time.Now()
	_, err = producer.New([]string{addr}, producer.WithConnection(conn.WithRetryBackoff(10*time.Millisecond)))
	require.Error(t, err)
	assert.NotErrorIs(t, err, producer.ErrInvalidConfig)
	assert.Contains(t, err.Error(), addr)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// blackHoleDialer connects for real but, once frozen, swallows everything
// the client writes: requests get no answer, as with a hung broker or a
// network partition that drops packets.
type blackHoleDialer struct {
	mu     sync.Mutex
	frozen bool
}

func (d *blackHoleDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &blackHoleConn{Conn: c, d: d}, nil
}

func (d *blackHoleDialer) set(frozen bool) { d.mu.Lock(); d.frozen = frozen; d.mu.Unlock() }

type blackHoleConn struct {
	net.Conn
	d *blackHoleDialer
}

func (c *blackHoleConn) Write(b []byte) (int, error) {
	c.d.mu.Lock()
	frozen := c.d.frozen
	c.d.mu.Unlock()
	if frozen {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

var _ io.Writer = (*blackHoleConn)(nil)

func TestSendToUnreachableClusterFailsWhenContextEnds(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	d := &blackHoleDialer{}
	p := newProducer(t, c,
		producer.WithConnection(conn.WithDialer(d)),
		// Short request timeouts so the test's clean-up does not wait for
		// sarama's default 30s read timeout.
		producer.WithSaramaConfig(func(cfg *sarama.Config) { cfg.Net.ReadTimeout = 2 * time.Second }),
	)
	_, err := p.Send(ctxFor(t, 10*time.Second), &bulwark.Message{Topic: "t", Value: []byte("warm-up")})
	require.NoError(t, err)

	d.set(true)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = p.Send(ctx, &bulwark.Message{Topic: "t", Value: []byte("lost?")})
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, elapsed, 650*time.Millisecond, "Send waited for the context")
	assert.Less(t, elapsed, 3*time.Second, "and no longer")

	// The network comes back: the producer's retries deliver the record
	// whose Send gave up, exactly once, and Close finds nothing pending.
	d.set(false)
	require.NoError(t, p.Flush(ctxFor(t, 30*time.Second)))
	recs := readTopic(t, c, "t")
	require.Len(t, recs, 2)
	assert.Equal(t, "lost?", string(recs[1].Value))
}

func TestDeliveryTimeoutBoundsRetries(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	p := newProducer(t, c, producer.WithDeliveryTimeout(time.Second), producer.WithRetryBackoff(50*time.Millisecond))
	// The partition keeps answering NOT_LEADER_OR_FOLLOWER: retriable, but
	// never succeeding.
	h := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: "t",
		Err: kafkatest.NotLeaderOrFollower, Count: -1})
	defer h.Remove()

	start := time.Now()
	done := make(chan error, 1)
	p.SendAsync(context.Background(), &bulwark.Message{Topic: "t", Value: []byte("v")}, func(_ producer.Result, err error) { done <- err })
	select {
	case err := <-done:
		require.Error(t, err)
		// The retries are spread over the delivery timeout, so which bound
		// ends them first is a race: sarama's retry count (the error is
		// the broker's last answer) or the expiry a tick or two after the
		// timeout (then the record may still be written, and says so).
		// Either is retryable for the caller.
		if !errors.Is(err, producer.ErrDeliveryTimeout) {
			assert.Contains(t, err.Error(), "not the leader")
		}
		assert.Equal(t, bulwark.ClassRetryable, bulwark.ClassOf(err))
		assert.Less(t, time.Since(start), 5*time.Second)
	case <-time.After(20 * time.Second):
		t.Fatal("retries not bounded by the delivery timeout")
	}
	assert.Greater(t, h.Hits(), 5, "the record was retried")
}

func TestCloseIsBoundedWhenRecordsCannotBeDelivered(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("t", 1))
	d := &blackHoleDialer{}
	p, err := producer.New(c.Brokers(),
		producer.WithConnection(conn.WithDialer(d)),
		producer.WithCloseTimeout(500*time.Millisecond),
		producer.WithSaramaConfig(func(cfg *sarama.Config) { cfg.Net.ReadTimeout = 2 * time.Second }),
	)
	require.NoError(t, err)
	_, err = p.Send(ctxFor(t, 10*time.Second), &bulwark.Message{Topic: "t", Value: []byte("warm-up")})
	require.NoError(t, err)

	d.set(true)
	outcome := make(chan error, 1)
	p.SendAsync(context.Background(), &bulwark.Message{Topic: "t", Value: []byte("stuck")}, func(_ producer.Result, err error) { outcome <- err })
	start := time.Now()
	err = p.Close()
	assert.Error(t, err, "records were still in flight")
	assert.Less(t, time.Since(start), 2*time.Second, "Close waited about the close timeout")
	assert.ErrorIs(t, p.Close(), context.DeadlineExceeded, "a second Close reports the same")

	// The record is still settled in the background: its callback runs
	// once, with the outcome (here sarama, shutting down, fails the retry).
	d.set(false)
	select {
	case err := <-outcome:
		t.Logf("outcome after Close: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("callback never called")
	}
}
