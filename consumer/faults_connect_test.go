package consumer

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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFaultMatrixConnect: the consumer's connection cells of the fault
// matrix (issue 17). Run ends, in bounded time, with a typed error naming
// the fault; the handler never runs.
func TestFaultMatrixConnect(t *testing.T) {
	noHandler := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		return errors.New("the handler must not run")
	})
	for _, c := range connfaults.Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			faultmatrix.Report(t, faultmatrix.Cell{
				Fault: c.Name, Component: "consumer.Run", Bound: "returns within " + connfaults.Bound.String(),
				Outcome: "*conn.ConnectError (" + c.Kind.Error() + "), pause-class, one line",
			})
			t.Parallel()
			cons, err := New(c.Brokers, "g", []string{"orders"}, noHandler, WithConnection(c.Opts...))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			err = cons.Run(ctx)
			took := time.Since(start)
			assert.NoError(t, connfaults.Check(c, err))
			assert.Less(t, took, connfaults.Bound)
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
		})
	}

	t.Run("context ends while connecting", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "context ends while connecting to a listener that never answers", Component: "consumer.Run",
			Bound: "returns within StopMargin of the context's end (dial timeout 10 s)", Outcome: "*conn.ConnectError matching the context's error",
		})
		t.Parallel()
		cons, err := New([]string{kafkatest.NeverAnswering(t)}, "g", []string{"orders"}, noHandler)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err = cons.Run(ctx)
		took := time.Since(start)
		var ce *conn.ConnectError
		require.ErrorAs(t, err, &ce)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, took, time.Second+StopMargin)
	})

	t.Run("broker address without a port", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "broker address without a port", Component: "consumer.New",
			Bound: "fails at once, nothing dialled", Outcome: "ErrInvalidConfig + conn.ErrInvalidSettings naming brokers",
		})
		_, err := New([]string{"kafka.internal"}, "g", []string{"orders"}, noHandler)
		assert.ErrorIs(t, err, ErrInvalidConfig)
		var se *conn.SettingError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "brokers", se.Setting)
	})
}
