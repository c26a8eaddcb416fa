package servicetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
)

// Environment variables and their defaults.
const (
	EnvPostgresDSN     = "BULWARK_POSTGRES_DSN"
	EnvRedisAddr       = "BULWARK_REDIS_ADDR"
	EnvRequireServices = "BULWARK_REQUIRE_SERVICES"

	DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisAddr   = "127.0.0.1:6379"
)

const probeTimeout = 3 * time.Second

// unavailable skips t, or fails it when services are required.
func unavailable(t testing.TB, env, addr string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s unreachable (%v); set %s to its address", addr, err, env)
	if os.Getenv(EnvRequireServices) == "1" {
		t.Fatalf("%s (%s=1 makes this a failure)", msg, EnvRequireServices)
	}
	t.Skipf("%s, or %s=1 to fail instead of skipping", msg, EnvRequireServices)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// PostgresDSN returns the PostgreSQL DSN after checking the server answers.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := env(EnvPostgresDSN, DefaultPostgresDSN)
	db, err := sql.Open("pgx", dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		err = db.PingContext(ctx)
		cancel()
		_ = db.Close()
	}
	if err != nil {
		unavailable(t, EnvPostgresDSN, "PostgreSQL "+redactDSN(dsn), err)
	}
	return dsn
}

// Postgres returns a pool on the PostgreSQL test database (pgx driver),
// closed when the test ends.
func Postgres(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", PostgresDSN(t))
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// PostgresViaProxy returns a pool on the PostgreSQL test database whose
// connections all pass through a new [Proxy], so the test can take the
// server away ([Proxy.Cut]) and bring it back ([Proxy.Restore]), and the
// application_name its sessions carry, unique to the test, to find them
// in pg_stat_activity (e.g. to terminate them as a restart would). Its
// connect timeout is one second; the pool is closed when the test ends.
func PostgresViaProxy(t testing.TB) (*sql.DB, *Proxy, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(PostgresDSN(t))
	if err != nil {
		t.Fatalf("parse postgres DSN: %v", err)
	}
	p := NewProxy(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	host, port, _ := net.SplitHostPort(p.Addr())
	pn, _ := strconv.Atoi(port)
	cfg.Host, cfg.Port = host, uint16(pn)
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = time.Second
	app := UniqueName(t, "bulwark")
	cfg.RuntimeParams["application_name"] = app
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = db.Close() })
	return db, p, app
}

// RedisAddr returns the Redis address after checking the server answers
// PING.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := env(EnvRedisAddr, DefaultRedisAddr)
	if err := pingRedis(addr); err != nil {
		unavailable(t, EnvRedisAddr, "Redis "+addr, err)
	}
	return addr
}

// pingRedis speaks just enough RESP to tell a live Redis from anything else,
// so this package does not depend on a Redis client.
func pingRedis(addr string) error {
	c, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(probeTimeout))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected PING reply %q", strings.TrimSpace(line))
	}
	return nil
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// UniqueName returns a name unique to this run, made of lowercase letters,
// digits and underscores (safe as an SQL identifier or a key prefix), that
// starts with prefix and mentions the test, so parallel runs never share
// tables or keys. It is at most 63 bytes, PostgreSQL's identifier limit.
func UniqueName(t testing.TB, prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random name: %v", err)
	}
	suffix := "_" + hex.EncodeToString(b[:])
	name := unsafeChars.ReplaceAllString(strings.ToLower(prefix+"_"+t.Name()), "_")
	if max := 63 - len(suffix); len(name) > max {
		name = name[:max]
	}
	return name + suffix
}

func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if j := strings.Index(dsn[i+3:], "@"); j >= 0 {
			if k := strings.Index(dsn[i+3:i+3+j], ":"); k >= 0 {
				return dsn[:i+3+k+1] + "***" + dsn[i+3+j:]
			}
		}
	}
	return dsn
}
