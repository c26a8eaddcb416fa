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
	connfaults.Run(t, "producer.New", func(c connfaults.Case) error {
		p, err := producer.New(c.Brokers, producer.WithConnection(c.Opts...))
		if p != nil {
			_ = p.Close()
		}
		return err
	})
	connfaults.RunContextEnds(t, "producer.NewContext", 2*time.Second, func(ctx context.Context, brokers []string) error {
		_, err := producer.NewContext(ctx, brokers)
		return err
	})

	t.Run("one seed never answers", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "one of two seed brokers never answers", Component: "producer.New",
			Bound: "connects within 2 dial timeouts", Outcome: "progress: the other seed is used", Records: "1 sent, 1 on the topic",
		})
		t.Parallel()
		cl := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTopic("seeds", 1))
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

	t.Run("topic missing", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "topic missing", Component: "producer.Send",
			Bound: "fails within 10 s; sends once the topic exists", Outcome: "pause-class error matching ErrUnknownTopic, naming the topic",
			Records: "1 on the topic after it is created",
		})
		t.Parallel()
		cl := kafkatest.NewCluster(t, kafkatest.WithBrokers(1))
		p := newProducer(t, cl)
		msg := &bulwark.Message{Topic: "created-later", Value: []byte("v")}
		start := time.Now()
		_, err := p.Send(ctxFor(t, 30*time.Second), msg)
		assert.Less(t, time.Since(start), 10*time.Second)
		require.ErrorIs(t, err, producer.ErrUnknownTopic)
		assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err))
		assert.Contains(t, err.Error(), "created-later")

		require.NoError(t, cl.CreateTopic(ctxFor(t, 10*time.Second), "created-later", 1, nil))
		_, err = p.Send(ctxFor(t, 30*time.Second), msg)
		require.NoError(t, err)
		assert.Len(t, readTopic(t, cl, "created-later"), 1)
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
