package saramagroup

import (
	"net"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Abortable cuts the connections of one sarama config at once: open ones
// close, dials in progress return, new ones are refused, and sarama's
// metadata and producer retries stop waiting between attempts. With it a
// sarama call in progress (they take no context) fails within its retry
// count instead of waiting for read or dial timeouts and backoffs.
type Abortable struct {
	aborter *saramax.Aborter
	cut     chan struct{}
	once    sync.Once
}

// MakeAbortable routes cfg's connections through a new Abortable. Call it
// after the config is final; the config must not be shared with a client
// that should survive [Abortable.Abort].
func MakeAbortable(cfg *sarama.Config) *Abortable {
	a := &Abortable{cut: make(chan struct{})}
	var base proxyDialer
	if cfg.Net.Proxy.Enable && cfg.Net.Proxy.Dialer != nil {
		base = cfg.Net.Proxy.Dialer
	} else {
		// What sarama dials with when no proxy is set.
		base = &net.Dialer{Timeout: cfg.Net.DialTimeout, KeepAlive: cfg.Net.KeepAlive, LocalAddr: cfg.Net.LocalAddr}
	}
	// saramax.Aborter closes open connections and refuses new ones, but a
	// dial in progress (a dead path: no answer to SYN) would still run to
	// its timeout; dialUntilCut ends it at once.
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = dialUntilCut{base: base, cut: a.cut}
	a.aborter = saramax.MakeAbortable(cfg)
	a.noWait(&cfg.Metadata.Retry.BackoffFunc, cfg.Metadata.Retry.Backoff)
	a.noWait(&cfg.Producer.Retry.BackoffFunc, cfg.Producer.Retry.Backoff)
	return a
}

// Abort cuts every connection. Idempotent.
func (a *Abortable) Abort() {
	a.once.Do(func() { close(a.cut) })
	a.aborter.Abort()
}

func (a *Abortable) aborted() bool {
	select {
	case <-a.cut:
		return true
	default:
		return false
	}
}

// noWait makes a retry backoff zero once aborted: without a network every
// attempt fails at once, and waiting between them only delays the end.
func (a *Abortable) noWait(fn *func(retries, maxRetries int) time.Duration, backoff time.Duration) {
	user := *fn
	*fn = func(retries, maxRetries int) time.Duration {
		if a.aborted() {
			return 0
		}
		if user != nil {
			return user(retries, maxRetries)
		}
		return backoff
	}
}

type proxyDialer interface {
	Dial(network, address string) (net.Conn, error)
}

type dialUntilCut struct {
	base proxyDialer
	cut  <-chan struct{}
}

func (d dialUntilCut) Dial(network, address string) (net.Conn, error) {
	type dialed struct {
		c   net.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := d.base.Dial(network, address)
		ch <- dialed{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-d.cut:
		// The dial ends by its own timeout; a connection it makes then is
		// closed unused.
		go func() {
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, &net.OpError{Op: "dial", Net: network, Err: saramax.ErrAborted}
	}
}
