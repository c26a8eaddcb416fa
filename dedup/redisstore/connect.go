// Goroutines: for a client other than *redis.Client (a cluster or ring
// client), ping starts one goroutine per call, owned by nobody after ping
// returns: it runs the PING and sends its result on a buffered channel of
// its own, so it never blocks, and ends when the client gives up on the
// command (its ReadTimeout, DialTimeout and retries).

package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/redis/go-redis/v9"
)

// DefaultConnectTimeout bounds the connectivity check of [New]; use
// [NewContext] for another bound.
const DefaultConnectTimeout = 5 * time.Second

// ping checks that Redis answers a PING before ctx ends. go-redis applies
// a context's deadline to its reads only with ContextTimeoutEnabled, so a
// server that accepts and never answers would hold a plain Ping for the
// client's ReadTimeout (and with ReadTimeout -1, forever): the PING runs on
// its own goroutine and ping returns when ctx ends, whatever the client's
// configuration.
func ping(ctx context.Context, client redis.Cmdable) error {
	if c, ok := client.(*redis.Client); ok {
		// A one-connection copy that honours ctx on its reads: no
		// goroutine is left behind, whatever the server does.
		o := *c.Options()
		o.ContextTimeoutEnabled, o.PoolSize, o.MinIdleConns, o.MaxRetries = true, 1, 0, -1
		probe := redis.NewClient(&o)
		defer probe.Close()
		err := probe.Ping(ctx).Err()
		switch {
		case err == nil:
			return nil
		case ended(ctx):
			return dedup.Unavailable("redisstore", "connect", fmt.Errorf("no PING reply from %s before the context ended: %w", o.Addr, endCause(ctx)))
		default:
			return dedup.Unavailable("redisstore", "connect", fmt.Errorf("PING from %s: %w", o.Addr, err))
		}
	}
	where := ""
	done := make(chan error, 1)
	go func() { done <- client.Ping(ctx).Err() }()
	select {
	case err := <-done:
		if err != nil {
			return dedup.Unavailable("redisstore", "connect", fmt.Errorf("PING%s: %w", where, err))
		}
		return nil
	case <-ctx.Done():
		return dedup.Unavailable("redisstore", "connect", fmt.Errorf("no PING reply%s before the context ended: %w", where, context.Cause(ctx)))
	}
}

// ended reports whether ctx has ended, or reached its deadline: the probe's
// read deadline is ctx's, and its timeout can come a moment before ctx
// itself reports the end.
func ended(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(deadline)
}

func endCause(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return context.DeadlineExceeded
}
