package producer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/connfaults"
	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFaultMatrix: the producer's cells of the fault matrix (issue 17).
// Connecting ends, in bounded time, with a typed error that names the
// fault, or succeeds past a broken seed broker.
func TestFaultMatrix(t *testing.T) {
	for _, c := range connfaults.Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			faultmatrix.Report(t, faultmatrix.Cell{
				Fault: c.Name, Component: "producer.New", Bound: "fails within " + connfaults.Bound.String(),
				Outcome: "*conn.ConnectError (" + c.Kind.Error() + "), pause-class, one line",
			})
			t.Parallel()
			start := time.Now()
			p, err := producer.New(c.Brokers, producer.WithConnection(c.Opts...))
			took := time.Since(start)
			if p != nil {
				_ = p.Close()
			}
			assert.NoError(t, connfaults.Check(c, err))
			assert.Less(t, took, connfaults.Bound)
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
		})
	}

	t.Run("context ends while connecting", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "context ends while connecting to a listener that never answers", Component: "producer.NewContext",
			Bound: "returns within 2 s of the context's end (dial timeout 10 s)", Outcome: "*conn.ConnectError matching the context's error",
		})
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := producer.NewContext(ctx, []string{kafkatest.NeverAnswering(t)})
		took := time.Since(start)
		var ce *conn.ConnectError
		require.ErrorAs(t, err, &ce)
		assert.ErrorIs(t, err, conn.ErrUnreachable)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, took, 3*time.Second)
	})

	t.Run("one seed never answers", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "one of two seed brokers never answers", Component: "producer.New",
			Bound: "connects within 2 dial timeouts", Outcome: "progress: the other seed is used", Records: "1 sent, 1 on the topic",
		})
		t.Parallel()
		cl := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTopic("seeds", 1))
		// Both orders: sarama picks the seeds in turn.
		brokers := []string{kafkatest.NeverAnswering(t), cl.Brokers()[0]}
		start := time.Now()
		p, err := producer.New(brokers, producer.WithConnection(conn.WithDialTimeout(connfaults.DialTimeout)))
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		assert.Less(t, time.Since(start), 2*connfaults.DialTimeout+3*time.Second)
		_, err = p.Send(ctxFor(t, 20*time.Second), &bulwark.Message{Topic: "seeds", Value: []byte("v")})
		require.NoError(t, err)
		assert.Len(t, readTopic(t, cl, "seeds"), 1)
	})

	t.Run("broker address without a port", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "broker address without a port", Component: "producer.New",
			Bound: "fails at once, nothing dialled", Outcome: "ErrInvalidConfig + conn.ErrInvalidSettings naming brokers",
		})
		start := time.Now()
		_, err := producer.New([]string{"kafka.internal"})
		assert.ErrorIs(t, err, producer.ErrInvalidConfig)
		var se *conn.SettingError
		require.True(t, errors.As(err, &se), "%v", err)
		assert.Equal(t, "brokers", se.Setting)
		assert.Less(t, time.Since(start), time.Second)
	})
}
