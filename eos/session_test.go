package eos_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// testOpts are the options every test session uses: kfake's minimum session
// timeout, short batches.
func testOpts(extra ...eos.Option) []eos.Option {
	return append([]eos.Option{
		eos.WithSessionTimeout(6 * time.Second),
		eos.WithTransactionTimeout(5 * time.Second),
		eos.WithBatchSize(100),
		eos.WithBatchInterval(20 * time.Millisecond),
		eos.WithRetryBackoff(20 * time.Millisecond),
	}, extra...)
}

func runSession(t *testing.T, s *eos.Session) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30s of cancel")
			return nil
		}
	}
}

func TestCopiesEveryRecordExactlyOnce(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 3), kafkatest.WithTopic("out", 3))
	produceInputs(t, c, "in", 1000, 50)
	var processed atomic.Int64
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "copy", eos.HandlerFunc(
		func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
			processed.Add(1)
			out.Emit(copyOutput(in, "out"))
			return nil
		}), testOpts()...)
	require.NoError(t, err)
	stop := runSession(t, s)
	waitFor(t, 30*time.Second, "all committed", func() bool {
		got, err := c.CommittedOffsets(context.Background(), "g", "in")
		if err != nil {
			return false
		}
		var sum int64
		for _, o := range got {
			sum += o
		}
		return sum == 1000
	})
	require.NoError(t, stop())
	counts := checkExactlyOnce(t, c, "g", "in", "out")
	t.Logf("counts %v, handler calls %d", counts, processed.Load())
}

func TestNewValidates(t *testing.T) {
	h := eos.HandlerFunc(func(context.Context, *bulwark.Message, eos.Emitter) error { return nil })
	cases := map[string][]eos.Option{
		"txn timeout not below session": {eos.WithSessionTimeout(6 * time.Second), eos.WithTransactionTimeout(6 * time.Second)},
		"batch size":                    {eos.WithBatchSize(0)},
		"static without instance":       {eos.WithStaticMembership()},
		"old kafka":                     {eos.WithConnection(conn.WithKafkaVersion("2.4.0"))},
		"bad instance id":               {eos.WithInstanceID("a b")},
		// The sarama escape hatch must not get round the timeout check.
		"txn timeout not below session via sarama": {eos.WithSaramaConfig(func(c *sarama.Config) {
			c.Producer.Transaction.Timeout = time.Minute
		})},
		"session not above txn timeout via sarama": {eos.WithSaramaConfig(func(c *sarama.Config) {
			c.Consumer.Group.Session.Timeout = 5 * time.Second // default transaction timeout: 7.5s
		})},
	}
	for name, opts := range cases {
		_, err := eos.New([]string{"x:1"}, "g", []string{"in"}, "p", h, opts...)
		require.Error(t, err, name)
		require.True(t, errors.Is(err, eos.ErrInvalidConfig), "%s: %v", name, err)
	}
	_, err := eos.New([]string{"x:1"}, "g", []string{"in"}, "", h)
	require.ErrorIs(t, err, eos.ErrInvalidConfig)
	s, err := eos.New([]string{"x:1"}, "g", []string{"in"}, "p", h, eos.WithInstanceID("i-1"))
	require.NoError(t, err)
	// A hook that keeps the transaction timeout below the session timeout
	// is fine.
	_, err = eos.New([]string{"x:1"}, "g", []string{"in"}, "p", h, eos.WithSaramaConfig(func(c *sarama.Config) {
		c.Producer.Transaction.Timeout = 9 * time.Second
	}))
	require.NoError(t, err)
	require.Equal(t, "p-i-1", s.TransactionalID())
}
