package servicetest_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/internal/servicetest"
)

// The variables a test run reads. In a test:
//
//	db := servicetest.Postgres(t)                        // skips (or fails) without PostgreSQL
//	table := servicetest.UniqueName(t, "bulwark_dedup") // a table no parallel run shares
//	addr := servicetest.RedisAddr(t)
func Example() {
	fmt.Println(servicetest.EnvPostgresDSN, servicetest.EnvRedisAddr, servicetest.EnvRequireServices)
	// Output: BULWARK_POSTGRES_DSN BULWARK_REDIS_ADDR BULWARK_REQUIRE_SERVICES
}

func TestUniqueName(t *testing.T) {
	a, b := servicetest.UniqueName(t, "Pre:fix"), servicetest.UniqueName(t, "Pre:fix")
	if a == b {
		t.Fatalf("two names alike: %s", a)
	}
	if !regexp.MustCompile(`^pre_fix_testuniquename_[0-9a-f]{12}$`).MatchString(a) {
		t.Fatalf("unexpected name %q", a)
	}
	long := servicetest.UniqueName(t, strings.Repeat("x", 100))
	if len(long) > 63 {
		t.Fatalf("name of %d bytes exceeds PostgreSQL's 63", len(long))
	}
}

func TestUnreachableSkipsOrFails(t *testing.T) {
	if os.Getenv("SERVICETEST_CHILD") == "1" {
		servicetest.RedisAddr(t)
		t.Log("reached past RedisAddr")
		return
	}
	for require, want := range map[string]string{"": "--- SKIP", "1": "--- FAIL"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnreachableSkipsOrFails$", "-test.v")
		cmd.Env = append(os.Environ(), "SERVICETEST_CHILD=1", "BULWARK_REDIS_ADDR=127.0.0.1:1", "BULWARK_REQUIRE_SERVICES="+require)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), "BULWARK_REDIS_ADDR") ||
			strings.Contains(string(out), "reached past") {
			t.Errorf("BULWARK_REQUIRE_SERVICES=%q: want %s naming the variable, got:\n%s", require, want, out)
		}
	}
}

func TestProxyForwardsUntilCut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // line echo server
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					_, _ = c.Write([]byte(line))
				}
			}()
		}
	}()
	p := servicetest.NewProxy(t, ln.Addr().String())
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo through proxy: %q, %v", line, err)
	}
	p.Cut()
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection survived the cut")
	}
	if c2, err := net.Dial("tcp", p.Addr()); err == nil {
		_ = c2.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := bufio.NewReader(c2).ReadString('\n'); err == nil {
			t.Fatal("new connection served after the cut")
		}
		c2.Close()
	}
}

func TestProxyRestoreServesAgain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // answers "up\n" to every connection
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("up\n"))
			_ = c.Close()
		}
	}()
	p := servicetest.NewProxy(t, ln.Addr().String())
	read := func() (string, error) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return bufio.NewReader(c).ReadString('\n')
	}
	if line, err := read(); line != "up\n" {
		t.Fatalf("before the cut: %q, %v", line, err)
	}
	p.Cut()
	if line, err := read(); err == nil {
		t.Fatalf("served %q while cut", line)
	}
	p.Restore()
	if line, err := read(); line != "up\n" {
		t.Fatalf("after Restore: %q, %v", line, err)
	}
}
