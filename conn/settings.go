package conn

import (
	"crypto/tls"
	"net"
	"regexp"
	"time"
)

// Defaults applied by [Build] to settings left unset.
const (
	DefaultClientID     = "bulwark"
	DefaultKafkaVersion = "3.6.0"
	// DefaultDialTimeout bounds one broker connection's set-up: TCP dial,
	// TLS handshake and the broker's first answer.
	DefaultDialTimeout = 10 * time.Second
	// DefaultConnectTimeout bounds connecting to the cluster at start
	// (producer.New, the start of consumer and eos Run): every seed
	// broker tried, metadata fetched, producer ID or group coordinator
	// found.
	DefaultConnectTimeout = 30 * time.Second
	// DefaultMetadataRetries bounds how often a metadata request is retried
	// before an unreachable cluster is reported, so a wrong address or bad
	// credentials fail in seconds, not minutes.
	DefaultMetadataRetries = 3
	DefaultRetryBackoff    = 250 * time.Millisecond
)

// Dialer opens connections to brokers. *net.Dialer satisfies it; tests pass
// a dialer they can cut to simulate a crashed process or broker.
type Dialer interface {
	Dial(network, address string) (net.Conn, error)
}

// Settings is the validated result of applying options. Feature packages
// read it; users build it only through options.
type Settings struct {
	ClientID        string
	KafkaVersion    string
	DialTimeout     time.Duration
	ConnectTimeout  time.Duration
	MetadataRetries int
	RetryBackoff    time.Duration
	Dialer          Dialer
	TLS             *tls.Config
	SASL            *SASL
	// RackID is the rack (or availability zone) the client runs in. With
	// it, consumers fetch from the closest in-sync replica instead of the
	// leader when the brokers set replica.selector.class (KIP-392).
	RackID string

	// tlsFiles are read by Build into TLS.
	tlsFiles *tlsFiles
}

// Option changes Settings. Options are applied in order; validation runs
// after all of them.
type Option func(*Settings) error

// Build applies opts over the defaults and validates the result.
func Build(opts ...Option) (Settings, error) {
	s := Settings{
		ClientID:        DefaultClientID,
		KafkaVersion:    DefaultKafkaVersion,
		DialTimeout:     DefaultDialTimeout,
		ConnectTimeout:  DefaultConnectTimeout,
		MetadataRetries: DefaultMetadataRetries,
		RetryBackoff:    DefaultRetryBackoff,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&s); err != nil {
			return Settings{}, err
		}
	}
	if err := s.loadTLSFiles(); err != nil {
		return Settings{}, err
	}
	if err := s.validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

var clientIDPattern = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
var versionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?$`)

// Kafka accepts any string as a rack. We reject only what is certainly a
// mistake (stray spaces or control characters from an environment file),
// since a rack that matches no broker silently falls back to the leader.
var rackPattern = regexp.MustCompile(`^[^\s\p{Cc}](?:[^\p{Cc}]{0,253}[^\s\p{Cc}])?$`)

func (s Settings) validate() error {
	switch {
	case !clientIDPattern.MatchString(s.ClientID):
		return invalid("client_id", "%q must be non-empty and use only letters, digits, '.', '_' and '-'", s.ClientID)
	case !versionPattern.MatchString(s.KafkaVersion):
		return invalid("kafka_version", "%q is not of the form 3.6.0", s.KafkaVersion)
	case s.DialTimeout <= 0:
		return invalid("dial_timeout", "must be positive, got %v", s.DialTimeout)
	case s.ConnectTimeout <= 0:
		return invalid("connect_timeout", "must be positive, got %v", s.ConnectTimeout)
	case s.MetadataRetries < 0:
		return invalid("metadata_retries", "must not be negative, got %d", s.MetadataRetries)
	case s.RetryBackoff < 0:
		return invalid("retry_backoff", "must not be negative, got %v", s.RetryBackoff)
	case s.RackID != "" && !rackPattern.MatchString(s.RackID):
		return invalid("rack_id", "%q must be at most 255 characters, without control characters or leading or trailing spaces", s.RackID)
	}
	if s.SASL != nil {
		if err := s.SASL.validate(); err != nil {
			return err
		}
	}
	return nil
}

// WithClientID sets the client ID brokers see in logs and quotas.
// Default [DefaultClientID].
func WithClientID(id string) Option {
	return func(s *Settings) error { s.ClientID = id; return nil }
}

// WithKafkaVersion sets the lowest Kafka version the cluster runs, e.g.
// "3.6.0". Transactions with consumer-group fencing need 2.5.0 or newer.
// Default [DefaultKafkaVersion].
func WithKafkaVersion(v string) Option {
	return func(s *Settings) error { s.KafkaVersion = v; return nil }
}

// WithDialTimeout bounds how long setting up one broker connection may
// take: the TCP dial, the TLS handshake and the broker's first answer. A
// listener that accepts and never answers (a frozen broker, a wrong port)
// costs this much per attempt. Default [DefaultDialTimeout].
func WithDialTimeout(d time.Duration) Option {
	return func(s *Settings) error { s.DialTimeout = d; return nil }
}

// WithConnectTimeout bounds connecting to the cluster at start: a producer's
// New and the start of a consumer's or eos session's Run give up after it
// with a [*ConnectError], as they do when their context ends first.
// Default [DefaultConnectTimeout].
func WithConnectTimeout(d time.Duration) Option {
	return func(s *Settings) error { s.ConnectTimeout = d; return nil }
}

// WithMetadataRetries sets how often a failed metadata request is retried
// (with the retry backoff between tries) before the cluster counts as
// unreachable. Default [DefaultMetadataRetries].
func WithMetadataRetries(n int) Option {
	return func(s *Settings) error { s.MetadataRetries = n; return nil }
}

// WithRetryBackoff sets the pause between retries of metadata requests.
// Default [DefaultRetryBackoff].
func WithRetryBackoff(d time.Duration) Option {
	return func(s *Settings) error { s.RetryBackoff = d; return nil }
}

// WithDialer makes every broker connection go through d. Default: a
// net.Dialer with the dial timeout.
func WithDialer(d Dialer) Option {
	return func(s *Settings) error {
		if d == nil {
			return invalid("dialer", "is nil")
		}
		s.Dialer = d
		return nil
	}
}

// WithRackID tells the brokers which rack (availability zone) the client
// runs in, e.g. "eu-west-1a". Consumers then fetch from the closest in-sync
// replica instead of the partition leader, which saves cross-zone traffic,
// provided the brokers set replica.selector.class to
// org.apache.kafka.common.replica.RackAwareReplicaSelector; otherwise the
// setting is harmless. Default: none (fetch from the leader).
func WithRackID(rack string) Option {
	return func(s *Settings) error { s.RackID = rack; return nil }
}
