package conn

import (
	"context"
	"strings"
)

// SASL mechanisms supported by [WithSASL] and [WithOAuthBearer].
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
	// SASLOAuthBearer is set by [WithOAuthBearer]; WithSASL refuses it
	// because it needs a token source, not a password.
	SASLOAuthBearer = "OAUTHBEARER"
)

// SASL holds SASL credentials. Build it with the security options.
type SASL struct {
	// Mechanism is one of the SASL* constants.
	Mechanism string
	// User and Password are used by PLAIN and SCRAM.
	User     string
	Password string
	// TokenSource is used by OAUTHBEARER.
	TokenSource TokenSource
}

// TokenSource supplies OAuth 2 access tokens for SASL/OAUTHBEARER.
//
// Token is called each time a broker connection is opened, with a context
// bounded by the dial timeout. It should return a cached token while that
// token is still valid and refresh it shortly before it expires (as
// golang.org/x/oauth2's ReuseTokenSource does): a slow or failing Token
// delays or fails the connection.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenSourceFunc adapts a function to [TokenSource].
type TokenSourceFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenSourceFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// String names the mechanism and user, never the password: it is what
// error messages show.
func (s *SASL) String() string {
	if s.Mechanism == SASLOAuthBearer {
		return "OAUTHBEARER"
	}
	return s.User + " (" + s.Mechanism + ")"
}

func (s *SASL) validate() error {
	switch s.Mechanism {
	case SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512:
		if s.User == "" {
			return invalid("sasl.user", "SASL %s needs a user", s.Mechanism)
		}
		// Brokers reject an empty password anyway; saying so here beats a
		// refused connection later.
		if s.Password == "" {
			return invalid("sasl.password", "SASL %s for user %q needs a password", s.Mechanism, s.User)
		}
	case SASLOAuthBearer:
		if f, isFunc := s.TokenSource.(TokenSourceFunc); s.TokenSource == nil || (isFunc && f == nil) {
			return invalid("sasl.token_source", "SASL OAUTHBEARER needs a token source (use WithOAuthBearer)")
		}
	default:
		return invalid("sasl.mechanism", "unknown SASL mechanism %q (want %s, %s, %s or %s)",
			s.Mechanism, SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512, SASLOAuthBearer)
	}
	return nil
}

// WithSASL authenticates with the given mechanism ([SASLPlain],
// [SASLSCRAMSHA256] or [SASLSCRAMSHA512]; case does not matter), user and
// password. An unknown mechanism, an empty user or an empty password fails
// [Build]. PLAIN sends the password as is: use it only together with TLS
// outside tests. Default: no SASL.
func WithSASL(mechanism, user, password string) Option {
	return func(s *Settings) error {
		mech := strings.ToUpper(strings.TrimSpace(mechanism))
		if mech == SASLOAuthBearer {
			return invalid("sasl.mechanism", "OAUTHBEARER takes a token source, not a password: use WithOAuthBearer")
		}
		s.SASL = &SASL{Mechanism: mech, User: user, Password: password}
		return nil
	}
}

// WithOAuthBearer authenticates with SASL/OAUTHBEARER, taking access tokens
// from src (see [TokenSource]). A nil src fails [Build]. It replaces any
// earlier [WithSASL].
func WithOAuthBearer(src TokenSource) Option {
	return func(s *Settings) error {
		s.SASL = &SASL{Mechanism: SASLOAuthBearer, TokenSource: src}
		return nil
	}
}
