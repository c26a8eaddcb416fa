package saramax

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
)

// setupDialer is the dialer of every sarama config [NewConfig] builds. It
// bounds a connection's whole set-up by the dial timeout, where sarama
// bounds only the TCP dial by it and each later step by the 30 s read
// timeout: a listener that accepts and never answers (a frozen broker, a
// wrong port) then costs one dial timeout per attempt, not minutes, and
// sarama moves on to the next seed broker.
//
//   - TLS: the handshake runs here, under a deadline. sarama's own TLS
//     (Net.TLS.Enable) stays off, so it does not wrap the connection a
//     second time; its TLSConnectionState therefore reports false, which
//     nothing of ours reads.
//   - The first Kafka response (sarama's ApiVersions request, sent first
//     on every connection) must arrive within the same deadline: until it
//     has been read, the deadlines sarama sets are capped. After it, they
//     are sarama's own, so a long JoinGroup or a slow produce is not cut.
type setupDialer struct {
	base    conn.Dialer
	tls     *tls.Config
	timeout time.Duration
	// boundFirstResponse is false when sarama will not send ApiVersions
	// first (an escape hatch turned it off) or wraps TLS itself, since
	// then the first bytes read are not a Kafka response of ours to
	// parse. [Validate] sets it from the final config.
	boundFirstResponse atomic.Bool
}

// installSetupDialer makes cfg dial through a setupDialer with s's dialer,
// TLS and dial timeout.
func installSetupDialer(cfg *sarama.Config, s conn.Settings) {
	d := &setupDialer{base: s.Dialer, tls: s.TLS, timeout: s.DialTimeout}
	if d.base == nil {
		// What sarama dials with when no proxy is set.
		d.base = &net.Dialer{Timeout: s.DialTimeout, KeepAlive: cfg.Net.KeepAlive, LocalAddr: cfg.Net.LocalAddr}
	}
	d.boundFirstResponse.Store(true)
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = d
	cfg.Net.TLS.Enable = false
	cfg.Net.TLS.Config = nil
}

// finishSetupDialer adapts the dialer to what escape hatches changed.
func finishSetupDialer(cfg *sarama.Config) {
	if d, ok := findSetupDialer(cfg); ok {
		d.boundFirstResponse.Store(cfg.ApiVersionsRequest && !cfg.Net.TLS.Enable)
	}
}

func findSetupDialer(cfg *sarama.Config) (*setupDialer, bool) {
	switch d := cfg.Net.Proxy.Dialer.(type) {
	case *setupDialer:
		return d, true
	case *Aborter:
		if sd, ok := d.base.(*setupDialer); ok {
			return sd, true
		}
	}
	return nil, false
}

func (d *setupDialer) Dial(network, address string) (net.Conn, error) {
	deadline := time.Now().Add(d.timeout)
	c, err := d.base.Dial(network, address)
	if err != nil {
		return nil, err
	}
	if d.tls != nil {
		tc := tls.Client(c, withServerName(d.tls, address))
		_ = tc.SetDeadline(deadline)
		if err := tc.Handshake(); err != nil {
			_ = c.Close()
			return nil, err
		}
		_ = tc.SetDeadline(time.Time{})
		c = tc
	}
	if !d.boundFirstResponse.Load() {
		return c, nil
	}
	sc := &setupConn{Conn: c, deadline: deadline}
	_ = c.SetDeadline(deadline)
	return sc, nil
}

// withServerName verifies the broker's certificate against the host
// dialled unless the config names a server, as sarama does.
func withServerName(cfg *tls.Config, address string) *tls.Config {
	if cfg.ServerName != "" {
		return cfg
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}

// setupConn caps deadlines until the first response has been read.
type setupConn struct {
	net.Conn
	deadline time.Time

	// Read is called by one goroutine at a time (sarama's reader); the
	// deadline setters by others, hence the lock around the state.
	mu     sync.Mutex
	header [4]byte
	seen   int64 // bytes of the first response read so far
	done   bool
	// garbage: the first response cannot be Kafka; every read fails.
	garbage bool
}

// ErrNotKafka says a listener answered with bytes that cannot be a Kafka
// response (an HTTP server, another protocol on the port).
var ErrNotKafka = errors.New("the listener answered with something that is not Kafka")

// maxFirstResponse is far above any ApiVersions response (a few KiB): a
// larger size prefix means the bytes are not Kafka. sarama would wait for
// that many bytes (the letters "HTTP" make 1.2 GB) until its read timeout.
const maxFirstResponse = 1 << 20

func (c *setupConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.done {
			c.consume(p[:n])
		}
		garbage := c.garbage
		c.mu.Unlock()
		if garbage {
			return 0, ErrNotKafka
		}
	}
	return n, err
}

// consume counts bytes of the first response: a 4-byte big-endian size,
// then that many bytes.
func (c *setupConn) consume(b []byte) {
	for len(b) > 0 && c.seen < 4 {
		c.header[c.seen] = b[0]
		c.seen++
		b = b[1:]
	}
	if c.seen < 4 {
		return
	}
	size := int64(binary.BigEndian.Uint32(c.header[:]))
	if size > maxFirstResponse {
		c.garbage, c.done = true, true
		return
	}
	c.seen += int64(len(b))
	if c.seen >= 4+size {
		c.done = true
	}
}

func (c *setupConn) capped(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || (!t.IsZero() && t.Before(c.deadline)) {
		return t
	}
	return c.deadline
}

func (c *setupConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.capped(t)) }
func (c *setupConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.capped(t)) }
func (c *setupConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.capped(t))
}
