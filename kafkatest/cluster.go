package kafkatest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Cluster is a running in-process cluster, or a connection to external
// brokers when [EnvBrokers] is set. Its methods are safe for concurrent use.
type Cluster struct {
	kf      *kfake.Cluster // nil on external brokers
	brokers []string       // the external brokers
	// tb is the test of NewCluster: on external brokers a fault method
	// skips it, as it cannot return an error saying so.
	tb      testing.TB
	created map[string]bool // topics created on external brokers, deleted at Close
	cfg     config
	roots   *x509.CertPool
	caPEM   []byte
	nodes   map[int32]string // node ID -> address, kept across StopBroker
	mu      sync.Mutex
	admin   *kgo.Client
	closed  bool
	closeMu sync.Once
}

// Start starts a cluster. Close it when done. When [EnvBrokers] is set it
// connects to those brokers instead and creates the topics there.
func Start(opts ...Option) (*Cluster, error) {
	cfg := config{brokers: 3, topics: map[string]int32{}}
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if brokers := ExternalBrokers(); len(brokers) > 0 {
		return startExternal(cfg, brokers)
	}
	kopts := []kfake.Opt{kfake.NumBrokers(cfg.brokers)}
	for _, t := range cfg.topicOrder {
		kopts = append(kopts, kfake.SeedTopics(cfg.topics[t], t))
	}
	if len(cfg.users) > 0 {
		kopts = append(kopts, kfake.EnableSASL())
		for _, u := range cfg.users {
			kopts = append(kopts, kfake.Superuser(u.mechanism, u.user, u.password))
		}
	}
	c := &Cluster{cfg: cfg, nodes: map[int32]string{}}
	if cfg.tls {
		cert, roots, err := selfSigned()
		if err != nil {
			return nil, fmt.Errorf("kafkatest: certificate: %w", err)
		}
		c.roots = roots
		c.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw})
		kopts = append(kopts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}
	if cfg.minSessionTimeout > 0 {
		kopts = append(kopts, kfake.GroupMinSessionTimeout(cfg.minSessionTimeout))
	}
	kf, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: start cluster: %w", err)
	}
	c.kf = kf
	// kfake numbers its first brokers 0..n-1 in listen order.
	for i, addr := range kf.ListenAddrs() {
		c.nodes[int32(i)] = addr
	}
	return c, nil
}

// NewCluster starts a cluster for t and closes it in t.Cleanup. It fails the
// test if the cluster cannot start. On external brokers ([EnvBrokers]) it
// skips t where an option needs kfake (TLS, SASL, a lowered minimum session
// timeout), and the fault methods skip t when called.
func NewCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c, err := Start(opts...)
	if errors.Is(err, ErrNeedsKfake) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	c.tb = t
	t.Cleanup(c.Close)
	return c
}

// Brokers returns the addresses of the running brokers.
func (c *Cluster) Brokers() []string {
	if c.kf == nil {
		return c.brokers
	}
	return c.kf.ListenAddrs()
}

// ConnOptions returns the connection options a client needs for this
// cluster: TLS trusting its certificate and the first SASL user, where
// enabled. Pass them to producer.WithConnection and the like.
func (c *Cluster) ConnOptions() []conn.Option {
	var opts []conn.Option
	if c.roots != nil {
		opts = append(opts, conn.WithTLS(c.ClientTLS()))
	}
	if len(c.cfg.users) > 0 {
		u := c.cfg.users[0]
		opts = append(opts, conn.WithSASL(u.mechanism, u.user, u.password))
	}
	return opts
}

// CACertPEM returns the cluster's self-signed certificate in PEM, for a
// client that takes a CA file (a program's -tls-ca flag, say), or nil when
// the cluster does not serve TLS.
func (c *Cluster) CACertPEM() []byte { return c.caPEM }

// ClientTLS returns a client TLS config trusting the cluster's certificate,
// or nil when the cluster does not serve TLS.
func (c *Cluster) ClientTLS() *tls.Config {
	if c.roots == nil {
		return nil
	}
	return &tls.Config{RootCAs: c.roots, MinVersion: tls.VersionTLS12}
}

// Kfake returns the underlying kfake cluster, for what this package does not
// wrap. Code using it depends on franz-go's kfake API. On external brokers
// it skips the test (NewCluster) or panics with a [*NeedsKfakeError] (Start).
func (c *Cluster) Kfake() *kfake.Cluster {
	c.mustKfake("Kfake")
	return c.kf
}

// Close stops the cluster; on external brokers it deletes the topics it
// created. It is idempotent.
func (c *Cluster) Close() {
	c.closeMu.Do(func() {
		if c.kf == nil {
			c.deleteCreated()
		}
		c.mu.Lock()
		c.closed = true
		admin := c.admin
		c.mu.Unlock()
		if admin != nil {
			admin.Close()
		}
		if c.kf != nil {
			c.kf.Close()
		}
	})
}

// client returns the cluster's own franz-go client, used by the helpers so
// that what they read does not depend on the code under test.
func (c *Cluster) client() (*kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("kafkatest: cluster closed")
	}
	if c.admin == nil {
		cl, err := kgo.NewClient(c.kgoOpts()...)
		if err != nil {
			return nil, err
		}
		c.admin = cl
	}
	return c.admin, nil
}

func (c *Cluster) kgoOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers()...),
		kgo.RetryTimeout(30 * time.Second),
		kgo.DialTimeout(5 * time.Second),
	}
	if c.roots != nil {
		opts = append(opts, kgo.DialTLSConfig(c.ClientTLS()))
	}
	if len(c.cfg.users) > 0 {
		u := c.cfg.users[0]
		switch u.mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: u.user, Pass: u.password}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: u.user, Pass: u.password}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: u.user, Pass: u.password}.AsSha512Mechanism()))
		}
	}
	return append(opts, extra...)
}

// StopBroker removes broker node from the cluster: its listener closes and
// partition leaders move to the others. Connections clients already hold to
// it stay open (kfake keeps answering them); cut them with a [Dialer] to
// simulate a crash.
func (c *Cluster) StopBroker(node int32) error {
	if err := c.needsKfake("StopBroker"); err != nil {
		return err
	}
	return c.kf.RemoveNode(node)
}

// RestartBroker brings a stopped broker back at its old address.
func (c *Cluster) RestartBroker(node int32) error {
	if err := c.needsKfake("RestartBroker"); err != nil {
		return err
	}
	c.mu.Lock()
	addr, ok := c.nodes[node]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("kafkatest: unknown broker %d", node)
	}
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return err
	}
	_, _, err = c.kf.AddNode(node, port)
	return err
}

// BrokerAddr returns the address of broker node, also while it is stopped.
func (c *Cluster) BrokerAddr(node int32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[node]
}

// MoveLeader makes node the leader of topic/partition.
func (c *Cluster) MoveLeader(topic string, partition, node int32) error {
	if err := c.needsKfake("MoveLeader"); err != nil {
		return err
	}
	return c.kf.MoveTopicPartition(topic, partition, node)
}

// ShuffleLeaders gives every partition a random new leader, as after a
// cluster-wide election.
func (c *Cluster) ShuffleLeaders() {
	c.mustKfake("ShuffleLeaders")
	c.kf.ShufflePartitionLeaders()
}

// LeaderOf returns the node leading topic/partition, or -1.
func (c *Cluster) LeaderOf(topic string, partition int32) int32 {
	if c.kf == nil {
		return c.externalLeaderOf(topic, partition)
	}
	return c.kf.LeaderFor(topic, partition)
}

// withTimeout bounds helper calls made without a deadline.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, 60*time.Second)
}
