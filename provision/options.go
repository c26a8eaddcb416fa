package provision

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
)

// DefaultCreateTimeout bounds how long Ensure waits for a topic it (or a
// concurrent caller) created to show up in the cluster's metadata.
const DefaultCreateTimeout = 30 * time.Second

type config struct {
	connOpts       []conn.Option
	driftAsWarning bool
	logger         *slog.Logger
	createTimeout  time.Duration
	saramaHooks    []saramaHook
}

// Option configures [Ensure].
type Option func(*config) error

// WithConnection sets how to reach the cluster (client ID, TLS, SASL...).
// Default: conn's defaults, plaintext.
func WithConnection(opts ...conn.Option) Option {
	return func(c *config) error { c.connOpts = append(c.connOpts, opts...); return nil }
}

// WithDriftAsWarning makes drift a warning logged through the logger (and
// listed in [Report.Drift]) instead of a [*DriftError]. Default: drift is
// an error.
func WithDriftAsWarning() Option {
	return func(c *config) error { c.driftAsWarning = true; return nil }
}

// WithLogger sets where Ensure logs what it created and, with
// [WithDriftAsWarning], the drift it found. Default: slog.Default(), since
// in warning mode the log is where drift shows; pass a discarding logger to
// silence it.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: logger is nil", ErrInvalidConfig)
		}
		c.logger = l
		return nil
	}
}

// WithCreateTimeout bounds how long Ensure waits for a newly created topic
// to appear in the cluster's metadata with all its partitions. Default
// [DefaultCreateTimeout].
func WithCreateTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: create timeout must be positive, got %v", ErrInvalidConfig, d)
		}
		c.createTimeout = d
		return nil
	}
}

func newConfig(opts []Option) (config, error) {
	c := config{logger: slog.Default(), createTimeout: DefaultCreateTimeout}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}
