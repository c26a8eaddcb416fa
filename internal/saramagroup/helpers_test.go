package saramagroup_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramagroup"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// newGroup connects a member of group on c, closed at cleanup (bounded).
func newGroup(t *testing.T, c *kafkatest.Cluster, group string, gs saramagroup.Settings) *saramagroup.Group {
	t.Helper()
	cs, err := conn.Build(c.ConnOptions()...)
	require.NoError(t, err)
	cfg, err := saramagroup.NewConfig(cs, gs, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := saramagroup.Connect(ctx, c.Brokers(), group, cfg, cs)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Close(ctx)
	})
	return g
}

// handler reports each session's start and drains its claims until they
// close.
type handler struct {
	setup   chan *saramagroup.Session
	cleanup chan *saramagroup.Session
	closed  chan saramagroup.TopicPartition // a claim ended
}

func newHandler() *handler {
	return &handler{
		setup:   make(chan *saramagroup.Session, 16),
		cleanup: make(chan *saramagroup.Session, 16),
		closed:  make(chan saramagroup.TopicPartition, 64),
	}
}

func (h *handler) Setup(s *saramagroup.Session) error   { h.setup <- s; return nil }
func (h *handler) Cleanup(s *saramagroup.Session) error { h.cleanup <- s; return nil }
func (h *handler) ConsumeClaim(_ *saramagroup.Session, c *saramagroup.Claim) error {
	for {
		if _, _, ev := c.Next(nil); ev == saramagroup.Closed {
			h.closed <- saramagroup.TopicPartition{Topic: c.Topic(), Partition: c.Partition()}
			return nil
		}
	}
}

// consume runs Consume in a loop until ctx ends; the returned channel
// closes when it has.
func consume(ctx context.Context, g *saramagroup.Group, topics []string, h saramagroup.Handler) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		go func() {
			for range g.Errors() {
			}
		}()
		for i := 0; i < 100 && ctx.Err() == nil; i++ {
			if err := g.Consume(ctx, topics, h); err != nil && saramagroup.IsFatal(err) {
				return
			}
		}
	}()
	return done
}

func recv[T any](t *testing.T, ch <-chan T, within time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("no %s within %v", what, within)
		var zero T
		return zero
	}
}
