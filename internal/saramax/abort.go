package saramax

import (
	"errors"
	"net"
	"sync"

	"github.com/IBM/sarama"
)

// ErrAborted is returned by dials after [Aborter.Abort].
var ErrAborted = errors.New("connection aborted: the caller gave up")

// Aborter cuts every broker connection of one sarama config. sarama's
// blocking calls take no context; cutting their connections is what makes
// one in progress return when the caller's context ends, instead of after
// the read timeout.
type Aborter struct {
	base interface {
		Dial(network, address string) (net.Conn, error)
	}
	mu      sync.Mutex
	conns   map[*abortableConn]struct{}
	aborted bool
}

// MakeAbortable routes cfg's connections through a new Aborter, keeping
// the dialer cfg had (a custom one, or sarama's own with cfg's timeouts).
// Call it after the config is final.
func MakeAbortable(cfg *sarama.Config) *Aborter {
	a := &Aborter{conns: map[*abortableConn]struct{}{}}
	if cfg.Net.Proxy.Enable && cfg.Net.Proxy.Dialer != nil {
		a.base = cfg.Net.Proxy.Dialer
	} else {
		// What sarama dials with when no proxy is set.
		a.base = &net.Dialer{Timeout: cfg.Net.DialTimeout, KeepAlive: cfg.Net.KeepAlive, LocalAddr: cfg.Net.LocalAddr}
	}
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = a
	return a
}

// Dial opens a connection Abort can cut.
func (a *Aborter) Dial(network, address string) (net.Conn, error) {
	a.mu.Lock()
	aborted := a.aborted
	a.mu.Unlock()
	if aborted {
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrAborted}
	}
	c, err := a.base.Dial(network, address)
	if err != nil {
		return nil, err
	}
	ac := &abortableConn{Conn: c, owner: a}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.aborted {
		_ = c.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrAborted}
	}
	a.conns[ac] = struct{}{}
	return ac, nil
}

// Abort closes every open connection and refuses new ones. It is
// idempotent.
func (a *Aborter) Abort() {
	a.mu.Lock()
	a.aborted = true
	conns := a.conns
	a.conns = map[*abortableConn]struct{}{}
	a.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
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
