package kafkatest

import (
	"net"
	"sync"
	"testing"
)

// Broken listeners for connection-fault tests, each on a loopback port of
// its own, closed with the test.
//
// Goroutines: each listener has one accept loop, and one goroutine per
// accepted connection; Close (run by t.Cleanup) closes the listener and
// every connection, which ends them all, and waits for them.

// NeverAnswering returns the address of a listener that accepts
// connections and never sends a byte, as a frozen broker or a wrong port
// does; spoken to with TLS, it holds the handshake open.
func NeverAnswering(t testing.TB) string {
	return listen(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
}

// AnswersGarbage returns the address of a listener that answers every
// read with bytes that are not Kafka (an HTTP error page, as a web server
// on the port would).
func AnswersGarbage(t testing.TB) string {
	reply := []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
	return listen(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if _, err := c.Write(reply); err != nil {
				return
			}
		}
	})
}

func listen(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]struct{}{}
		closed bool // set by the cleanup: a connection accepted later is closed at once
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				_ = c.Close()
				return
			}
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
