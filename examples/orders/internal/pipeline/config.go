// Package pipeline assembles the order pipeline: it starts (or connects to)
// the cluster and the schema registry, creates the topics, runs every
// service under a supervisor, places the orders, injects chaos if asked, and
// checks the outcome against the topics and the payment gateway.
package pipeline

import (
	"github.com/bulwarkgo/bulwark/conn"
	"io"
	"log/slog"
	"sync"
	"time"
)

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Config is what the command's flags set.
type Config struct {
	Brokers     []string      // empty: start an embedded cluster
	Conn        []conn.Option // how to connect to Brokers (TLS, SASL)
	Registry    string        // schema registry URL; empty: an in-memory one
	TopicPrefix string        // prefix of every topic name
	Partitions  int32         // partitions of the topics it creates

	Orders         int     // orders to place
	Rate           float64 // orders per second; 0: as fast as possible
	Seed           uint64  // order generator seed
	StockPerSKU    int64   // initial units of each SKU
	SKUs           int     // number of SKUs
	DeclinePercent int     // orders the gateway declines
	Poison         int     // undecodable records sent to the orders topic

	Chaos bool // broker faults, service crashes, a gateway outage

	// Outbox writes each order and its event to PostgreSQL in one
	// transaction; an outbox relay publishes the events (PostgresDSN).
	Outbox bool

	View string // the projection's store: "memory" or "postgres" (PostgresDSN)

	Dedup       string // "memory", "redis" or "postgres"
	RedisAddr   string
	PostgresDSN string

	Listen string // address for /metrics and the query endpoints; empty: none

	Timeout time.Duration // how long to wait for every order to settle

	Progress io.Writer // progress lines; nil: none
	Logger   *slog.Logger
}

func (c *Config) defaults() {
	if c.Partitions <= 0 {
		c.Partitions = 6
	}
	if c.Orders < 0 {
		c.Orders = 0
	}
	if c.StockPerSKU <= 0 {
		c.StockPerSKU = 50
	}
	if c.SKUs <= 0 {
		c.SKUs = 8
	}
	if c.View == "" {
		c.View = "memory"
	}
	if c.Dedup == "" {
		c.Dedup = "memory"
	}
	if c.Timeout <= 0 {
		c.Timeout = 90 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	c.Progress = &lockedWriter{w: c.Progress} // chaos and the progress loop both write
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
