package dedup

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwarkgo/bulwark"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of [New].
const (
	DefaultLease        = 30 * time.Second
	DefaultRetention    = 24 * time.Hour
	DefaultStoreTimeout = 5 * time.Second
)

type config struct {
	key          func(*bulwark.Message) string
	fallback     func(*bulwark.Message) string
	lease        time.Duration
	retention    time.Duration
	busyWait     time.Duration
	busyWaitSet  bool
	storeTimeout time.Duration
	allowUnkeyed bool
	logger       *slog.Logger
	meters       metric.MeterProvider
	name         string
}

// Option configures [New].
type Option func(*config)

// WithKeyFunc sets how a record's dedup key is found (default: its
// message-ID header, [bulwark.Message.MessageID]). Return "" for a record
// that has no key; it then gets the fallback key ([WithFallbackKeyFunc]).
// Use it for a business key, such as an order ID, that identifies the side
// effect better than the record does; include the topic in the key if the
// same ID may mean different things on different topics.
func WithKeyFunc(f func(*bulwark.Message) string) Option {
	return func(c *config) { c.key = f }
}

// WithFallbackKeyFunc sets the key of a record for which the key function
// ([WithKeyFunc]) returns "", such as a record from a producer that sets no
// message-ID header (default [OffsetKey]: its topic, partition and offset,
// which drops redeliveries of the same offset). Records keyed this way are
// counted in the bulwark.dedup.fallback_keys metric. A nil f, or an f that
// returns "", leaves the record without a key: it then fails with a
// permanent [ErrNoKey] (dead-lettered) unless [WithAllowUnkeyed] is set.
func WithFallbackKeyFunc(f func(*bulwark.Message) string) Option {
	return func(c *config) { c.fallback = f }
}

// WithLease sets how long a claim holds a key before the handler must have
// finished (default 30s). A crashed consumer's records become claimable
// again after it, so keep it short, but longer than the slowest handler
// run: a handler still running when its lease expires may run a second
// time elsewhere.
func WithLease(d time.Duration) Option { return func(c *config) { c.lease = d } }

// WithRetention sets how long a processed key is remembered (default 24h).
// Duplicates arriving later than this are processed again.
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// WithBusyWait sets how long a delivery whose key is leased by another
// consumer waits for that consumer's outcome before giving up with a
// retryable [ErrInFlight] (default: the lease duration, after which the
// other lease has either finished or expired). Zero returns ErrInFlight at
// once.
func WithBusyWait(d time.Duration) Option {
	return func(c *config) { c.busyWait, c.busyWaitSet = d, true }
}

// WithStoreTimeout bounds each store call (default 5s). A call that runs
// out of it counts as the store being unavailable (pause-class). Confirm
// and Release run even after the record's context is cancelled, within
// this bound, so that a finished handler's outcome is still recorded.
func WithStoreTimeout(d time.Duration) Option { return func(c *config) { c.storeTimeout = d } }

// WithAllowUnkeyed lets records without a dedup key, neither from the key
// function nor from the fallback ([WithFallbackKeyFunc]), through to the
// handler without deduplication (counted in the bulwark.dedup.unkeyed
// metric and logged at debug level). Otherwise such a record fails with a
// permanent [ErrNoKey] and goes to the dead-letter topic, since it cannot
// be protected from duplicates. With the default fallback every record has
// a key, so this matters only with a fallback of your own.
func WithAllowUnkeyed() Option { return func(c *config) { c.allowUnkeyed = true } }

// WithLogger sets the logger (default: slog.Default(), WARN and above only,
// so store failures reach the operator with no configuration;
// slog.New(slog.DiscardHandler) silences it). Duplicates are logged at
// debug level, store failures and lost leases at warn.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithName names the deduplicator in its metrics (attribute
// bulwark.dedup.name, [AttrName]) and logs, so that several services
// sharing one meter provider can be told apart. Default: no name.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithMeterProvider sets the meter provider (default: the otel global).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.meters = mp } }

func (c *config) validate() error {
	switch {
	case c.key == nil:
		return fmt.Errorf("%w: nil key function", ErrInvalidConfig)
	case c.lease <= 0:
		return fmt.Errorf("%w: lease %v must be positive", ErrInvalidConfig, c.lease)
	case c.retention <= 0:
		return fmt.Errorf("%w: retention %v must be positive", ErrInvalidConfig, c.retention)
	case c.busyWait < 0:
		return fmt.Errorf("%w: busy wait %v must not be negative", ErrInvalidConfig, c.busyWait)
	case c.storeTimeout <= 0:
		return fmt.Errorf("%w: store timeout %v must be positive", ErrInvalidConfig, c.storeTimeout)
	}
	return nil
}
