package kafkatest_test

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/kafkatest"
)

func TestNeverAnsweringAcceptsAndStaysSilent(t *testing.T) {
	c, err := net.DialTimeout("tcp", kafkatest.NeverAnswering(t), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	if n, err := c.Read(b[:]); n != 0 || !os.IsTimeout(err) {
		t.Fatalf("read %d bytes, %v; want a timeout", n, err)
	}
}

func TestAnswersGarbageAnswersEveryWrite(t *testing.T) {
	c, err := net.DialTimeout("tcp", kafkatest.AnswersGarbage(t), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 2; i++ {
		if _, err := c.Write([]byte("request")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 256)
		n, err := c.Read(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 400") {
			t.Fatalf("answer %d: %q, %v", i, buf[:n], err)
		}
	}
}
