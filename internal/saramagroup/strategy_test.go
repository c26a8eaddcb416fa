package saramagroup_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/saramagroup"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
)

// On a broker, Settings.Eager decides what a second member's join does
// to the first: eager ends its whole session (Cleanup, then a new
// session); cooperative keeps the session and only closes the claims that
// move.
func TestEagerRebalanceEndsSessionCooperativeKeepsIt(t *testing.T) {
	for _, eager := range []bool{true, false} {
		name := map[bool]string{true: "eager", false: "cooperative"}[eager]
		t.Run(name, func(t *testing.T) {
			c := kafkatest.NewCluster(t, kafkatest.WithTopic("in", 4))
			gs := saramagroup.Settings{Eager: eager, SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 5 * time.Second}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			a, ha := newGroup(t, c, "g", gs), newHandler()
			doneA := consume(ctx, a, []string{"in"}, ha)
			first := recv(t, ha.setup, 30*time.Second, "first session of A")
			require.Len(t, first.Claims(), 4, "A alone owns every partition")

			b, hb := newGroup(t, c, "g", gs), newHandler()
			doneB := consume(ctx, b, []string{"in"}, hb)
			recv(t, hb.setup, 30*time.Second, "session of B")
			// A gives up some partitions either way.
			recv(t, ha.closed, 30*time.Second, "a claim of A closing")

			if eager {
				ended := recv(t, ha.cleanup, 10*time.Second, "end of A's first session")
				require.Same(t, first, ended)
				second := recv(t, ha.setup, 30*time.Second, "second session of A")
				require.NotSame(t, first, second)
				require.Less(t, len(second.Claims()), 4, "A shares the partitions now")
			} else {
				select {
				case s := <-ha.cleanup:
					t.Fatalf("cooperative rebalance ended A's session (generation %d)", s.GenerationID())
				case <-time.After(2 * time.Second):
				}
				require.NoError(t, first.Context().Err(), "A's session ended under the cooperative protocol")
			}
			cancel()
			recv(t, doneA, 30*time.Second, "A's Consume loop to end")
			recv(t, doneB, 30*time.Second, "B's Consume loop to end")
		})
	}
}
