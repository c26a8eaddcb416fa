package eos_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// Ready waits until the backlog present at assignment is committed.
func TestReadyOnceCaughtUp(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 2), kafkatest.WithTopic("out", 2))
	produceInputs(t, c, "in", 100, 10)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", eos.HandlerFunc(
		func(ctx context.Context, in *bulwark.Message, out eos.Emitter) error {
			select {
			case started <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			out.Emit(copyOutput(in, "out"))
			return nil
		}), testOpts()...)
	require.NoError(t, err)
	require.Equal(t, eos.State{}, s.State())
	stop := runSession(t, s)
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("no record reached the handler")
	}
	waitFor(t, 30*time.Second, "joined with both partitions", func() bool {
		st := s.State()
		return st.Joined && st.Partitions == 2
	})
	time.Sleep(500 * time.Millisecond) // several marker ticks, with the backlog unprocessed
	select {
	case <-s.Ready():
		t.Fatalf("ready with the backlog unprocessed: %+v", s.State())
	default:
	}
	require.False(t, s.State().CaughtUp)
	close(release)
	select {
	case <-s.Ready():
	case <-time.After(30 * time.Second):
		t.Fatalf("not ready after the backlog was processed: %+v", s.State())
	}
	require.Equal(t, eos.State{Joined: true, Partitions: 2, CaughtUpPartitions: 2, CaughtUp: true}, s.State())
	require.Equal(t, int64(100), committedSum(c, "g", "in"))
	require.NoError(t, stop())
	require.False(t, s.State().Joined)
}

// A session on empty partitions is ready at once.
func TestReadyOnEmptyPartitions(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 3), kafkatest.WithTopic("out", 3))
	s, err := eos.New(c.Brokers(), "g", []string{"in"}, "tx", eos.HandlerFunc(
		func(context.Context, *bulwark.Message, eos.Emitter) error { return nil }), testOpts()...)
	require.NoError(t, err)
	stop := runSession(t, s)
	select {
	case <-s.Ready():
	case <-time.After(30 * time.Second):
		t.Fatalf("not ready: %+v", s.State())
	}
	require.Equal(t, eos.State{Joined: true, Partitions: 3, CaughtUpPartitions: 3, CaughtUp: true}, s.State())
	require.NoError(t, stop())
}
