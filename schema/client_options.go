package schema

import (
	"context"
	"crypto/tls"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Client defaults, applied to settings left unset.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultRetries      = 3
	DefaultRetryBackoff = 100 * time.Millisecond
	DefaultMaxBackoff   = 2 * time.Second
)

type clientConfig struct {
	httpClient  *http.Client
	tls         *tls.Config
	tlsFiles    *[3]string // CA, certificate, key: loaded by NewClient
	user, pass  string
	basicAuth   bool
	tokenSource func(ctx context.Context) (string, error)
	timeout     time.Duration
	retries     int
	backoff     time.Duration
	maxBackoff  time.Duration
	userAgent   string
	meters      metric.MeterProvider
}

// ClientOption configures a [Client].
type ClientOption func(*clientConfig) error

// WithTLS sets the TLS configuration for an https registry URL. Default:
// Go's defaults (system roots). It cannot be combined with WithHTTPClient:
// configure TLS on that client's transport instead.
func WithTLS(cfg *tls.Config) ClientOption {
	return func(c *clientConfig) error {
		if cfg == nil {
			return invalidConfig("WithTLS: nil *tls.Config")
		}
		c.tls = cfg.Clone()
		return nil
	}
}

// WithTLSFiles trusts the CA certificates in caFile (empty: the system
// roots) and, for mutual TLS, presents the client certificate in certFile
// with its key in keyFile (both empty: none): PEM files, read once by
// [NewClient], like conn.WithTLSFiles for the brokers. An unreadable file, a
// file without a certificate, a key that does not match or an expired
// certificate fails NewClient with an error wrapping [ErrInvalidConfig] that
// names the file. Combined with [WithTLS], the files are added to its config
// whatever the order of the two. Not with [WithHTTPClient].
func WithTLSFiles(caFile, certFile, keyFile string) ClientOption {
	return func(c *clientConfig) error {
		c.tlsFiles = &[3]string{caFile, certFile, keyFile}
		return nil
	}
}

// WithBasicAuth authenticates with HTTP basic auth (Confluent Cloud: API
// key and secret). An empty user is an error. Default: no authentication.
func WithBasicAuth(user, password string) ClientOption {
	return func(c *clientConfig) error {
		if user == "" {
			return invalidConfig("WithBasicAuth: empty user")
		}
		c.user, c.pass, c.basicAuth = user, password, true
		return nil
	}
}

// WithBearerToken authenticates with a fixed bearer token.
func WithBearerToken(token string) ClientOption {
	return func(c *clientConfig) error {
		if token == "" {
			return invalidConfig("WithBearerToken: empty token")
		}
		c.tokenSource = func(context.Context) (string, error) { return token, nil }
		return nil
	}
}

// WithBearerTokenSource authenticates with bearer tokens from src, called
// before every request with that request's context. It should return a
// cached token while it is valid (as golang.org/x/oauth2's
// ReuseTokenSource does). An error from src fails the request without
// retry.
func WithBearerTokenSource(src func(ctx context.Context) (string, error)) ClientOption {
	return func(c *clientConfig) error {
		if src == nil {
			return invalidConfig("WithBearerTokenSource: nil source")
		}
		c.tokenSource = src
		return nil
	}
}

// WithTimeout bounds each HTTP attempt. Default [DefaultTimeout]. The
// context of the call bounds the whole call, retries included.
func WithTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if d <= 0 {
			return invalidConfig("WithTimeout: %v is not positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithRetries sets how many times a request is retried after a network
// error or a 5xx, 429 or 408 answer, with exponential backoff and jitter.
// Zero disables retries. Default [DefaultRetries]. Other 4xx answers are
// never retried. A serde whose request still fails for want of the
// registry returns a pause-class [*UnavailableError], so a consumer keeps
// retrying the record after a pause rather than dead-lettering it.
func WithRetries(n int) ClientOption {
	return func(c *clientConfig) error {
		if n < 0 {
			return invalidConfig("WithRetries: %d is negative", n)
		}
		c.retries = n
		return nil
	}
}

// WithRetryBackoff sets the first backoff and its cap. Defaults
// [DefaultRetryBackoff] and [DefaultMaxBackoff].
func WithRetryBackoff(initial, max time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if initial <= 0 || max < initial {
			return invalidConfig("WithRetryBackoff: need 0 < initial <= max, got %v, %v", initial, max)
		}
		c.backoff, c.maxBackoff = initial, max
		return nil
	}
}

// WithHTTPClient sends requests with hc (for a custom transport, proxy or
// instrumentation). Its own Timeout, if any, applies too. Default: a
// client of this package's own with a cloned http.DefaultTransport.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *clientConfig) error {
		if hc == nil {
			return invalidConfig("WithHTTPClient: nil client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithUserAgent sets the User-Agent header. Default "bulwark-schema".
func WithUserAgent(ua string) ClientOption {
	return func(c *clientConfig) error {
		c.userAgent = ua
		return nil
	}
}
