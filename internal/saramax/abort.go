package saramax

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// ErrAborted is returned by dials after [Aborter.Abort].
var ErrAborted = errors.New("connection aborted: the caller gave up")

// Aborter cuts every broker connection of one sarama config at once: open
// ones close, dials in progress return, new ones are refused, and sarama's
// metadata and producer retries stop waiting between attempts. sarama's
// blocking calls take no context; cutting their connections is what makes
// one in progress return when the caller's context ends, within its retry
// count instead of after read or dial timeouts and backoffs.
//
// Goroutines: a dial runs on a goroutine of its own so that Abort can end
// the wait for it; that goroutine ends with the dial (bounded by the dial
// timeout) and closes a connection made after Abort.
type Aborter struct {
	base interface {
		Dial(network, address string) (net.Conn, error)
	}
	cut   chan struct{} // closed by Abort, under mu
	mu    sync.Mutex
	conns map[*abortableConn]struct{}
}

// MakeAbortable routes cfg's connections through a new Aborter, keeping
// the dialer cfg had (a custom one, or sarama's own with cfg's timeouts).
// Call it after the config is final; the config must not be shared with a
// client that should survive [Aborter.Abort].
func MakeAbortable(cfg *sarama.Config) *Aborter {
	a := &Aborter{cut: make(chan struct{}), conns: map[*abortableConn]struct{}{}}
	if cfg.Net.Proxy.Enable && cfg.Net.Proxy.Dialer != nil {
		a.base = cfg.Net.Proxy.Dialer
	} else {
		// What sarama dials with when no proxy is set.
		a.base = &net.Dialer{Timeout: cfg.Net.DialTimeout, KeepAlive: cfg.Net.KeepAlive, LocalAddr: cfg.Net.LocalAddr}
	}
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = a
	a.noWait(&cfg.Metadata.Retry.BackoffFunc, cfg.Metadata.Retry.Backoff)
	a.noWait(&cfg.Producer.Retry.BackoffFunc, cfg.Producer.Retry.Backoff)
	return a
}

// Dial opens a connection Abort can cut.
func (a *Aborter) Dial(network, address string) (net.Conn, error) {
	if a.aborted() {
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrAborted}
	}
	type dialed struct {
		c   net.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := a.base.Dial(network, address)
		ch <- dialed{c, err}
	}()
	var r dialed
	select {
	case r = <-ch:
	case <-a.cut:
		// A dial to a dead path (no answer to SYN, a TLS handshake that
		// hangs) ends by its own timeout; a connection it makes then is
		// closed unused.
		go func() {
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrAborted}
	}
	if r.err != nil {
		return nil, r.err
	}
	ac := &abortableConn{Conn: r.c, owner: a}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.aborted() {
		_ = r.c.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrAborted}
	}
	a.conns[ac] = struct{}{}
	return ac, nil
}

// Abort closes every open connection and refuses new ones. It is
// idempotent.
func (a *Aborter) Abort() {
	a.mu.Lock()
	if !a.aborted() {
		close(a.cut)
	}
	conns := a.conns
	a.conns = map[*abortableConn]struct{}{}
	a.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

func (a *Aborter) aborted() bool {
	select {
	case <-a.cut:
		return true
	default:
		return false
	}
}

// noWait makes a retry backoff zero once aborted: without a network every
// attempt fails at once, and waiting between them only delays the end.
func (a *Aborter) noWait(fn *func(retries, maxRetries int) time.Duration, backoff time.Duration) {
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

type abortableConn struct {
	net.Conn
	owner *Aborter
}

func (c *abortableConn) Close() error {
	c.owner.mu.Lock()
	delete(c.owner.conns, c)
	c.owner.mu.Unlock()
	return c.Conn.Close()
}
