package schematest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/bulwarkgo/bulwark/schema"
)

type config struct {
	compat     schema.Compatibility
	firstID    int
	user, pass string
	token      string
}

// Option configures the in-memory registry.
type Option func(*config)

// WithCompatibility sets the global compatibility level. Default
// schema.CompatBackward, as in the real registry.
func WithCompatibility(level schema.Compatibility) Option {
	return func(c *config) { c.compat = level }
}

// WithFirstID sets the ID of the first schema registered (later ones
// count up from it). Default 1. Useful to test IDs above 2^24.
func WithFirstID(id int) Option {
	return func(c *config) { c.firstID = id }
}

// WithBasicAuth makes the registry require these credentials (401 with
// error code 40101 otherwise).
func WithBasicAuth(user, password string) Option {
	return func(c *config) { c.user, c.pass = user, password }
}

// WithBearerToken makes the registry require this bearer token.
func WithBearerToken(token string) Option {
	return func(c *config) { c.token = token }
}

// Server is an in-memory schema registry behind an httptest server. It
// speaks the subset of the Confluent REST API that package schema uses:
// registering, looking up and fetching schemas, versions, deletes (soft
// and permanent), compatibility tests and levels, with compatibility
// enforced by schema.CheckCompatibility and errors in the registry's
// {"error_code", "message"} bodies.
type Server struct {
	srv      *httptest.Server
	handler  *Handler
	requests atomic.Int64
}

// NewServer starts a registry on a loopback port. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{handler: NewHandler(opts...)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.handler.ServeHTTP(w, r)
	}))
	return s
}

// URL is the base URL to give schema.NewClient.
func (s *Server) URL() string { return s.srv.URL }

// Requests counts the HTTP requests served so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close shuts the server down. Idempotent.
func (s *Server) Close() {
	s.srv.Close()
}
