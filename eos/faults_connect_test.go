package eos_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/internal/connfaults"
)

// TestFaultMatrixConnect: the eos session's connection cells of the fault
// matrix (issue 17). Run ends, in bounded time, with a typed error naming
// the fault; the handler never runs.
func TestFaultMatrixConnect(t *testing.T) {
	noHandler := eos.HandlerFunc(func(context.Context, *bulwark.Message, eos.Emitter) error {
		t.Error("the handler must not run")
		return nil
	})
	run := func(ctx context.Context, brokers []string, opts ...conn.Option) error {
		s, err := eos.New(brokers, "g", []string{"in"}, "tx", noHandler, eos.WithConnection(opts...))
		if err != nil {
			return err
		}
		return s.Run(ctx)
	}
	connfaults.Run(t, "eos Session.Run", func(c connfaults.Case) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return run(ctx, c.Brokers, c.Opts...)
	})
	connfaults.RunContextEnds(t, "eos Session.Run", 2*time.Second, func(ctx context.Context, brokers []string) error {
		return run(ctx, brokers)
	})
}
