// Goroutines: NeverAnswering starts one accept loop per call; the test's
// cleanup closes the listener and every accepted connection, and waits for
// the loop to end.

package servicetest

import (
	"net"
	"sync"
	"testing"
)

// NeverAnswering returns the address of a loopback listener that accepts
// connections and never sends a byte, as a hung server or a black-holing
// firewall would: for tests that a client gives up in bounded time. It
// stops, closing what it accepted, when the test ends.
func NeverAnswering(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
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
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}
