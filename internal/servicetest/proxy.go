package servicetest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP forwarder in front of a server, for tests where the server
// must go away mid-run: [Proxy.Cut] closes every connection and refuses new
// ones, as a crashed or unreachable server would, and [Proxy.Restore]
// brings it back.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	cut   bool
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to target on a loopback port; it stops when the
// test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every open connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
}

// Conns is the set of connections a proxy had open at one moment.
type Conns []net.Conn

// Open returns the connections open now, for [Proxy.WaitClosed].
func (p *Proxy) Open() Conns {
	p.mu.Lock()
	defer p.mu.Unlock()
	open := make(Conns, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	return open
}

// WaitClosed waits up to timeout until every connection of open has been
// closed by its server, and reports whether they all were. A proxy closes
// a connection only after forwarding what the server sent before closing
// it, so once WaitClosed returns true the clients hold the servers' last
// words (such as PostgreSQL's 57P01 of a terminated session), which a
// [Proxy.Cut] made right after terminating the sessions could drop.
func (p *Proxy) WaitClosed(open Conns, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		left := 0
		for _, c := range open {
			if _, ok := p.conns[c]; ok {
				left++
			}
		}
		p.mu.Unlock()
		if left == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Restore undoes [Proxy.Cut]: new connections are forwarded again, as to a
// server that came back (connections closed by the cut stay closed).
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

func (p *Proxy) close() {
	p.Cut()
	_ = p.ln.Close()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(in) {
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil || !p.track(out) {
			_ = in.Close()
			continue
		}
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
