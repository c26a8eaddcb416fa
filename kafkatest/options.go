package kafkatest

import (
	"fmt"
	"time"
)

type config struct {
	brokers           int
	topics            map[string]int32
	topicOrder        []string
	users             []saslUser
	tls               bool
	minSessionTimeout time.Duration
}

type saslUser struct{ mechanism, user, password string }

// Option configures a cluster.
type Option func(*config) error

// WithBrokers sets the number of brokers (default 3).
func WithBrokers(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("kafkatest: need at least one broker, got %d", n)
		}
		c.brokers = n
		return nil
	}
}

// WithTopic creates topic with the given number of partitions at start.
func WithTopic(topic string, partitions int32) Option {
	return func(c *config) error {
		if topic == "" || partitions < 1 {
			return fmt.Errorf("kafkatest: topic %q needs a name and at least one partition", topic)
		}
		if _, seen := c.topics[topic]; !seen {
			c.topicOrder = append(c.topicOrder, topic)
		}
		c.topics[topic] = partitions
		return nil
	}
}

// WithSASLUser enables SASL and adds a user for mechanism ("PLAIN",
// "SCRAM-SHA-256" or "SCRAM-SHA-512"). The first user given is also the one
// the cluster's own helper clients log in as.
func WithSASLUser(mechanism, user, password string) Option {
	return func(c *config) error {
		switch mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			return fmt.Errorf("kafkatest: unknown SASL mechanism %q", mechanism)
		}
		c.users = append(c.users, saslUser{mechanism, user, password})
		return nil
	}
}

// WithTLS serves TLS only, with a self-signed certificate for 127.0.0.1 made
// at start. [Cluster.ClientTLS] returns a client config that trusts it.
func WithTLS() Option {
	return func(c *config) error { c.tls = true; return nil }
}

// WithMinSessionTimeout lowers the smallest consumer-group session timeout
// the cluster accepts (default 6s, as Kafka's group.min.session.timeout.ms).
func WithMinSessionTimeout(d time.Duration) Option {
	return func(c *config) error { c.minSessionTimeout = d; return nil }
}
