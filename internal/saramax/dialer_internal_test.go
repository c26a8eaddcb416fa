package saramax

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// The set-up deadline caps sarama's deadlines only until the first
// response has been read whole, however the reads split it.
func TestSetupConnCapsDeadlinesUntilTheFirstResponse(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	setup := time.Now().Add(time.Hour)
	c := &setupConn{Conn: client, deadline: setup}
	late := time.Now().Add(2 * time.Hour)
	if got := c.capped(late); !got.Equal(setup) {
		t.Fatalf("before the response: deadline %v, want the set-up deadline", got)
	}
	if got := c.capped(time.Time{}); !got.Equal(setup) {
		t.Fatalf("no deadline before the response: got %v, want the set-up deadline", got)
	}

	resp := make([]byte, 4+10)
	binary.BigEndian.PutUint32(resp, 10)
	go func() {
		// In three pieces: part of the size, the rest of it with part of
		// the body, the rest of the body.
		for _, part := range [][]byte{resp[:2], resp[2:9], resp[9:]} {
			if _, err := server.Write(part); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64)
	for read := 0; read < len(resp); {
		if !c.capped(late).Equal(setup) {
			t.Fatalf("capping ended after %d of %d bytes", read, len(resp))
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		read += n
	}
	if got := c.capped(late); !got.Equal(late) {
		t.Fatalf("after the response: deadline %v, want sarama's own", got)
	}
}

func TestSetupConnRejectsAnAbsurdFirstResponse(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	c := &setupConn{Conn: client, deadline: time.Now().Add(time.Hour)}
	go func() { _, _ = server.Write([]byte("HTTP/1.1 400 Bad Request\r\n")) }()
	if _, err := c.Read(make([]byte, 64)); err != ErrNotKafka {
		t.Fatalf("got %v, want ErrNotKafka", err)
	}
}
