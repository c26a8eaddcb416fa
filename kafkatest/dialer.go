package kafkatest

import (
	"errors"
	"net"
	"sync"
	"time"
)

// ErrDialRefused is returned by a [Dialer] that was killed or told to
// refuse an address.
var ErrDialRefused = errors.New("kafkatest: dial refused")

// Dialer opens broker connections that a test can cut, to make a client
// look crashed: a closed connection alone is not enough because clients
// redial. Pass it with conn.WithDialer. The zero value is not usable; use
// [NewDialer].
type Dialer struct {
	mu      sync.Mutex
	conns   map[net.Conn]string
	dead    bool
	blocked map[string]bool
	dial    net.Dialer
}

// NewDialer returns a working dialer.
func NewDialer() *Dialer {
	return &Dialer{conns: map[net.Conn]string{}, blocked: map[string]bool{}, dial: net.Dialer{Timeout: 5 * time.Second}}
}

// Dial connects unless the dialer is dead or addr is blocked.
func (d *Dialer) Dial(network, addr string) (net.Conn, error) {
	d.mu.Lock()
	refused := d.dead || d.blocked[addr]
	d.mu.Unlock()
	if refused {
		return nil, ErrDialRefused
	}
	c, err := d.dial.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead || d.blocked[addr] {
		c.Close()
		return nil, ErrDialRefused
	}
	tc := &trackedConn{Conn: c, d: d}
	d.conns[tc] = addr
	return tc, nil
}

// Kill closes every connection and refuses new ones: to the cluster the
// client is gone without a goodbye (no LeaveGroup, no EndTxn).
func (d *Dialer) Kill() {
	d.mu.Lock()
	d.dead = true
	d.mu.Unlock()
	d.closeWhere(func(string) bool { return true })
}

// Revive lets the dialer connect again after Kill.
func (d *Dialer) Revive() {
	d.mu.Lock()
	d.dead = false
	d.mu.Unlock()
}

// DropConnections closes every open connection but lets the client redial,
// as after a network blip.
func (d *Dialer) DropConnections() { d.closeWhere(func(string) bool { return true }) }

// Cut closes the connections to addr and refuses new ones until Restore.
func (d *Dialer) Cut(addr string) {
	d.mu.Lock()
	d.blocked[addr] = true
	d.mu.Unlock()
	d.closeWhere(func(a string) bool { return a == addr })
}

// Restore lets the dialer connect to addr again.
func (d *Dialer) Restore(addr string) {
	d.mu.Lock()
	delete(d.blocked, addr)
	d.mu.Unlock()
}

func (d *Dialer) closeWhere(match func(addr string) bool) {
	d.mu.Lock()
	var victims []net.Conn
	for c, a := range d.conns {
		if match(a) {
			victims = append(victims, c)
		}
	}
	d.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	d    *Dialer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.d.mu.Lock()
		delete(c.d.conns, c)
		c.d.mu.Unlock()
	})
	return c.Conn.Close()
}
