package saramax

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
)

// Connect runs connect, a sarama call that opens the first connections
// and takes no context (NewClient, NewConsumerGroup, ...), bounded by ctx
// and s.ConnectTimeout. connect gets a copy of cfg whose connections an
// [Aborter] cuts when either ends first, so that the call returns at once;
// what it built after all is closed with discard, and Connect returns a
// *conn.ConnectError (ErrUnreachable) that also matches ctx's error.
// Otherwise it returns connect's result, its error explained by
// [ExplainConnectError] with brokers and cfg itself (whose probe must
// still dial).
//
// Goroutines: connect runs on one of its own, which Connect always waits
// for before it returns.
func Connect[T any](ctx context.Context, brokers []string, cfg *sarama.Config, s conn.Settings, connect func(*sarama.Config) (T, error), discard func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	cut := *cfg
	aborter := MakeAbortable(&cut)
	done := make(chan result, 1)
	go func() {
		v, err := connect(&cut)
		done <- result{v, err}
	}()
	timer := time.NewTimer(s.ConnectTimeout)
	defer timer.Stop()
	var why error
	select {
	case r := <-done:
		if r.err != nil {
			r.err = ExplainConnectError(r.err, brokers, cfg, s)
		}
		return r.v, r.err
	case <-ctx.Done():
		why = context.Cause(ctx)
	case <-timer.C:
		why = fmt.Errorf("%w: connect timeout of %v", context.DeadlineExceeded, s.ConnectTimeout)
	}
	// Bounded: with every connection cut, every dial refused and every
	// retry backoff zero, sarama's call runs out of attempts at once.
	aborter.Abort()
	r := <-done
	if r.err == nil {
		discard(r.v)
	}
	detail := "no broker completed the connection set-up before the context ended"
	if !errors.Is(why, context.Canceled) {
		detail = "no broker completed the connection set-up in time"
	}
	detail += " (check the addresses and ports, that the listeners speak Kafka, and whether they expect TLS)"
	var zero T
	return zero, gaveUp(detail, why, r.err)
}

// gaveUp explains a call abandoned because of why, with what sarama had
// met by then (often only our own cut).
func gaveUp(detail string, why, last error) error {
	if last != nil && !errors.Is(last, ErrAborted) {
		why = fmt.Errorf("%w (last error: %v)", why, last)
	}
	return &conn.ConnectError{Kind: conn.ErrUnreachable, Detail: detail, Err: why}
}
