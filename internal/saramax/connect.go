package saramax

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
)

// Connect runs connect, a sarama call that opens the first connections
// and takes no context (NewClient, NewAsyncProducer, ...), bounded by ctx
// and s.ConnectTimeout. When either ends first, abort cuts the call's
// connections so it returns at once, what it built after all is closed
// with discard, and Connect returns a *conn.ConnectError (ErrUnreachable)
// that also matches ctx's error. Otherwise it returns connect's result,
// its error classified as [ExplainConnectError] does with brokers and
// s; explain may be nil when there is no config to probe with.
//
// Goroutines: connect runs on one of its own, which Connect always waits
// for before it returns.
func Connect[T any](ctx context.Context, s conn.Settings, abort func(), connect func() (T, error), discard func(T), explain func(error) error) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := connect()
		done <- result{v, err}
	}()
	timer := time.NewTimer(s.ConnectTimeout)
	defer timer.Stop()
	var why error
	select {
	case r := <-done:
		if r.err != nil && explain != nil {
			r.err = explain(r.err)
		}
		return r.v, r.err
	case <-ctx.Done():
		why = context.Cause(ctx)
	case <-timer.C:
		why = fmt.Errorf("%w: connect timeout of %v", context.DeadlineExceeded, s.ConnectTimeout)
	}
	// Bounded: with every connection cut, every dial refused and every
	// retry backoff zero, sarama's call runs out of attempts at once.
	abort()
	r := <-done
	if r.err == nil {
		discard(r.v)
	}
	var zero T
	return zero, gaveUp(why, r.err)
}

// gaveUp explains a connect abandoned because of why, with what sarama
// had met by then (often only our own cut).
func gaveUp(why, last error) error {
	detail := "no broker completed the connection set-up before the context ended"
	if !errors.Is(why, context.Canceled) {
		detail = "no broker completed the connection set-up in time"
	}
	detail += " (check the addresses and ports, that the listeners speak Kafka, and whether they expect TLS)"
	if last != nil && !errors.Is(last, ErrAborted) {
		why = fmt.Errorf("%w (last error: %v)", why, last)
	}
	return &conn.ConnectError{Kind: conn.ErrUnreachable, Detail: detail, Err: why}
}
