package saramax

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramametrics"
	"github.com/xdg-go/scram"
)

// NewConfig returns a sarama configuration for the given connection
// settings. Callers add their own producer/consumer settings, apply the
// user's escape hatch, then call [Validate].
func NewConfig(s conn.Settings) (*sarama.Config, error) {
	version, err := sarama.ParseKafkaVersion(s.KafkaVersion)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", conn.ErrInvalidSettings, err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = s.ClientID
	cfg.RackID = s.RackID
	cfg.Net.DialTimeout = s.DialTimeout
	cfg.Metadata.Retry.Max = s.MetadataRetries
	cfg.Metadata.Retry.Backoff = s.RetryBackoff
	// One registry per config, never go-metrics' process-wide default:
	// sarama's metrics go to it, and BridgeMetrics reports them.
	cfg.MetricRegistry = saramametrics.NewRegistry()
	// TLS and the dialer: see setupDialer.
	installSetupDialer(cfg, s)
	if s.SASL != nil {
		if err := applySASL(cfg, s.SASL, s.DialTimeout); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func applySASL(cfg *sarama.Config, s *conn.SASL, tokenTimeout time.Duration) error {
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.User = s.User
	cfg.Net.SASL.Password = s.Password
	switch s.Mechanism {
	case conn.SASLPlain:
		cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case conn.SASLSCRAMSHA256:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		cfg.Net.SASL.SCRAMClientGeneratorFunc = scramClient(sha256.New)
	case conn.SASLSCRAMSHA512:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.SCRAMClientGeneratorFunc = scramClient(sha512.New)
	case conn.SASLOAuthBearer:
		if s.TokenSource == nil {
			return fmt.Errorf("%w: SASL OAUTHBEARER needs a token source", conn.ErrInvalidSettings)
		}
		cfg.Net.SASL.Mechanism = sarama.SASLTypeOAuth
		cfg.Net.SASL.TokenProvider = tokenProvider{src: s.TokenSource, timeout: tokenTimeout}
	default:
		// conn.Build rejects these; Settings built by hand may not have
		// gone through it.
		return fmt.Errorf("%w: unknown SASL mechanism %q", conn.ErrInvalidSettings, s.Mechanism)
	}
	return nil
}

// tokenProvider adapts conn.TokenSource to sarama, which asks for a token
// on every new broker connection without a context: the dial timeout bounds
// the call instead, so a hanging token endpoint cannot hang the client.
type tokenProvider struct {
	src     conn.TokenSource
	timeout time.Duration
}

func (p tokenProvider) Token() (*sarama.AccessToken, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	tok, err := p.src.Token(ctx)
	if err == nil && tok == "" {
		err = errors.New("the token source returned an empty token")
	}
	if err != nil {
		return nil, &tokenError{err: err}
	}
	return &sarama.AccessToken{Token: tok}, nil
}

// tokenError marks a failure of the user's token source, so that
// ClassifyConnectError can tell it from a broker refusing the token.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "OAUTHBEARER token source: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// Validate runs sarama's own validation and wraps its error so callers can
// match conn.ErrInvalidSettings.
func Validate(cfg *sarama.Config) error {
	finishSetupDialer(cfg)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", conn.ErrInvalidSettings, err)
	}
	return nil
}

// scramClient adapts xdg-go/scram to sarama's SCRAMClient.
func scramClient(h func() hash.Hash) func() sarama.SCRAMClient {
	return func() sarama.SCRAMClient { return &scramConversation{hash: scram.HashGeneratorFcn(h)} }
}

type scramConversation struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramConversation) Begin(user, password, authzID string) error {
	client, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramConversation) Step(challenge string) (string, error) { return c.conv.Step(challenge) }
func (c *scramConversation) Done() bool                            { return c.conv.Done() }
