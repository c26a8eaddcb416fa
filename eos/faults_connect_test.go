package eos_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/internal/connfaults"
	"github.com/bulwarkgo/bulwark/internal/faultmatrix"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFaultMatrixConnect: the eos session's connection cells of the fault
// matrix (issue 17). Run ends, in bounded time, with a typed error naming
// the fault; the handler never runs.
func TestFaultMatrixConnect(t *testing.T) {
	noHandler := eos.HandlerFunc(func(context.Context, *bulwark.Message, eos.Emitter) error {
		t.Error("the handler must not run")
		return nil
	})
	for _, c := range connfaults.Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			faultmatrix.Report(t, faultmatrix.Cell{
				Fault: c.Name, Component: "eos Session.Run", Bound: "returns within " + connfaults.Bound.String(),
				Outcome: "*conn.ConnectError (" + c.Kind.Error() + "), pause-class, one line",
			})
			t.Parallel()
			s, err := eos.New(c.Brokers, "g", []string{"in"}, "tx", noHandler, eos.WithConnection(c.Opts...))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			err = s.Run(ctx)
			took := time.Since(start)
			assert.NoError(t, connfaults.Check(c, err))
			assert.Less(t, took, connfaults.Bound)
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
		})
	}

	t.Run("context ends while connecting", func(t *testing.T) {
		faultmatrix.Report(t, faultmatrix.Cell{
			Fault: "context ends while connecting to a listener that never answers", Component: "eos Session.Run",
			Bound: "returns within 2 s of the context's end (dial timeout 10 s)", Outcome: "*conn.ConnectError matching the context's error",
		})
		t.Parallel()
		s, err := eos.New([]string{kafkatest.NeverAnswering(t)}, "g", []string{"in"}, "tx", noHandler)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err = s.Run(ctx)
		took := time.Since(start)
		var ce *conn.ConnectError
		require.ErrorAs(t, err, &ce)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, took, 3*time.Second)
	})
}
