package saramagroup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/saramagroup"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// A coordinator that never answers LeaveGroup does not hold up Close past
// its context: the connections are cut and Close returns soon after, with
// the context's error.
func TestCloseBoundedWhenLeaveGroupHangs(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 2))
	g := newGroup(t, c, "g", saramagroup.Settings{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newHandler()
	consumed := consume(ctx, g, []string{"in"}, h)
	recv(t, h.setup, 30*time.Second, "the member's session")

	arrived, release := c.HoldNext(kafkatest.LeaveGroup)
	defer release()
	const bound = 500 * time.Millisecond
	closeCtx, cancelClose := context.WithTimeout(context.Background(), bound)
	defer cancelClose()
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- g.Close(closeCtx) }()
	recv(t, arrived, 10*time.Second, "LeaveGroup")
	err := recv(t, closed, bound+10*time.Second, "Close to return")
	took := time.Since(start)
	t.Logf("Close returned after %v: %v", took, err)
	require.LessOrEqual(t, took, bound+2*time.Second, "Close outlived its context")
	require.True(t, errors.Is(err, context.DeadlineExceeded), "err = %v", err)
	cancel()
	recv(t, consumed, 10*time.Second, "the Consume loop to end")
}
