package saramagroup

import (
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"go.opentelemetry.io/otel/metric"
)

// Settings are the group knobs in bulwark's terms.
type Settings struct {
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	// RebalanceTimeout bounds how long a member may take to release revoked
	// partitions before the coordinator drops it.
	RebalanceTimeout time.Duration
	// InstanceID turns on static membership when not empty.
	InstanceID      string
	StartFromNewest bool
	// ReadCommitted fetches with isolation level read_committed: records
	// of aborted transactions, and of open ones, are not returned.
	ReadCommitted bool
	// Eager rebalances eagerly (sticky assignment): a rebalance ends the
	// whole session, revoking every partition, instead of moving only the
	// partitions that change owner (cooperative-sticky, the default). eos
	// wants it: one transaction never holds offsets of two generations,
	// and every partition is released only after the open transaction.
	Eager bool
	// MeterProvider receives the member's broker figures (see
	// saramax.BridgeMetrics); nil: the otel global.
	MeterProvider metric.MeterProvider
}

// Configure sets consumer-group defaults on cfg: cooperative-sticky (or,
// with s.Eager, sticky) assignment, no sarama auto-commit (offsets are
// committed through [Group.Commit], or in transactions, only for finished
// records), errors returned on a channel, the isolation level of s.
func Configure(cfg *sarama.Config, s Settings) {
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyCooperativeSticky()}
	if s.Eager {
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	}
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	if s.StartFromNewest {
		cfg.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	cfg.Consumer.IsolationLevel = sarama.ReadUncommitted
	if s.ReadCommitted {
		cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	if s.SessionTimeout > 0 {
		cfg.Consumer.Group.Session.Timeout = s.SessionTimeout
	}
	if s.HeartbeatInterval > 0 {
		cfg.Consumer.Group.Heartbeat.Interval = s.HeartbeatInterval
	}
	if s.RebalanceTimeout > 0 {
		// Also how long the coordinator waits for members to rejoin: a
		// crashed member holds up a rebalance this long, so it should not
		// be much more than the member needs to release partitions.
		cfg.Consumer.Group.Rebalance.Timeout = s.RebalanceTimeout
	}
	if s.InstanceID != "" {
		cfg.Consumer.Group.InstanceId = s.InstanceID
	}
}

// Config is a validated sarama configuration for a group member.
type Config struct {
	sarama *sarama.Config
	meters metric.MeterProvider
}

// Sarama returns the configuration, for explaining connect errors.
func (c *Config) Sarama() *sarama.Config { return c.sarama }

// Wrap makes a Config of cfg, built and validated by the caller (eos
// checks it against its producer's), for [Connect].
func Wrap(cfg *sarama.Config, mp metric.MeterProvider) *Config {
	return &Config{sarama: cfg, meters: mp}
}

// NewConfig builds the member's configuration: connection settings, group
// settings, then tweak (the user's escape hatch, may be nil), then sarama's
// validation.
func NewConfig(cs conn.Settings, gs Settings, tweak func(*sarama.Config)) (*Config, error) {
	cfg, err := saramax.NewConfig(cs)
	if err != nil {
		return nil, err
	}
	Configure(cfg, gs)
	if tweak != nil {
		tweak(cfg)
	}
	if err := saramax.Validate(cfg); err != nil {
		return nil, err
	}
	return &Config{sarama: cfg, meters: gs.MeterProvider}, nil
}
