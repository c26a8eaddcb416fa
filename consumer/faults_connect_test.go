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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFaultMatrixConnect: the consumer's connection cells of the fault
// matrix (issue 17). Run ends, in bounded time, with a typed error naming
// the fault; the handler never runs.
func TestFaultMatrixConnect(t *testing.T) {
	noHandler := bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error {
		t.Error("the handler must not run")
		return nil
	})
	run := func(ctx context.Context, brokers []string, opts ...conn.Option) error {
		cons, err := New(brokers, "g", []string{"orders"}, noHandler, WithConnection(opts...))
		if err != nil {
			return err
		}
		return cons.Run(ctx)
	}
	connfaults.Run(t, "consumer.Run", func(c connfaults.Case) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return run(ctx, c.Brokers, c.Opts...)
	})
	connfaults.RunContextEnds(t, "consumer.Run", StopMargin, func(ctx context.Context, brokers []string) error {
		return run(ctx, brokers)
	})

	t.Run("broker address without a port", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "broker address without a port", Component: "consumer.New",
			Bound: "fails at once, nothing dialled", Outcome: "ErrInvalidConfig + conn.ErrInvalidSettings naming brokers",
		})
		_, err := New([]string{"kafka.internal"}, "g", []string{"orders"}, noHandler)
		assert.ErrorIs(t, err, ErrInvalidConfig)
		var se *conn.SettingError
		require.True(t, errors.As(err, &se), "%v", err)
		assert.Equal(t, "brokers", se.Setting)
	})
}
