package servicetest_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/servicetest"
)

// TestWaitClosedKeepsTheServersLastWords: a server that writes and closes
// (as PostgreSQL does with a terminated session) is forwarded whole once
// WaitClosed returns, so a Cut made then drops nothing of it.
func TestWaitClosedKeepsTheServersLastWords(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	closeNow := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		<-closeNow
		_, _ = c.Write([]byte("bye"))
		_ = c.Close()
	}()
	p := servicetest.NewProxy(t, ln.Addr().String())
	client, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	// The proxy tracks the connection once it has dialled the server.
	deadline := time.Now().Add(5 * time.Second)
	var open servicetest.Conns
	for len(open) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		open = p.Open()
	}
	if len(open) < 2 {
		t.Fatalf("proxy holds %d connections, want the client's and the server's", len(open))
	}
	if p.WaitClosed(open, 50*time.Millisecond) {
		t.Fatal("WaitClosed returned true while the server still held its connection")
	}
	close(closeNow)
	if !p.WaitClosed(open, 5*time.Second) {
		t.Fatal("WaitClosed: the server's close was not seen within 5s")
	}
	p.Cut()
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if string(got) != "bye" {
		t.Fatalf("client read %q (%v), want the server's last words", got, err)
	}
}
