package eos_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// A second instance with the same identity (so the same transactional ID)
// fences the first: the first stops with ErrFenced, nothing it had open
// commits, and the second finishes the work exactly once.
func TestSameInstanceIDFencesTheOlderSession(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 2), kafkatest.WithTopic("out", 2))
	produceInputs(t, c, "in", 400, 20)
	gate := make(chan struct{})
	var once sync.Once
	entered := make(chan struct{})
	first, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", eos.HandlerFunc(
		func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
			once.Do(func() { close(entered); <-gate })
			out.Emit(copyOutput(in, "out"))
			return nil
		}), testOpts(eos.WithInstanceID("same"))...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.Run(ctx) }()
	<-entered

	second, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", eos.HandlerFunc(
		func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
			out.Emit(copyOutput(in, "out"))
			return nil
		}), testOpts(eos.WithInstanceID("same"))...)
	require.NoError(t, err)
	require.Equal(t, first.TransactionalID(), second.TransactionalID())
	stopSecond := runSession(t, second)
	time.Sleep(500 * time.Millisecond) // the second producer has initialised by now
	close(gate)

	select {
	case err := <-firstDone:
		require.ErrorIs(t, err, eos.ErrFenced)
		require.ErrorIs(t, err, bulwark.ErrFenced, "the one fencing sentinel")
		require.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err), "fencing is not the record's fault")
		var fe *eos.FencedError
		require.True(t, errors.As(err, &fe))
		require.Equal(t, "tx-same", fe.TransactionalID)
		t.Logf("first session stopped: %v", err)
	case <-time.After(40 * time.Second):
		t.Fatal("the fenced session did not stop")
	}
	waitFor(t, 40*time.Second, "second to commit everything", func() bool { return committedSum(c, "g", "in") == 400 })
	require.NoError(t, stopSecond())
	t.Logf("counts %v", checkExactlyOnce(t, c, "g", "in", "out"))
}
