package txnsession

import (
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramagroup"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"go.opentelemetry.io/otel/metric"
)

// ConfigHook edits a sarama configuration (eos.WithSaramaConfig).
type ConfigHook = func(*sarama.Config)

// Settings are the knobs eos exposes, in its own terms.
type Settings struct {
	Group              string
	InstanceID         string
	StaticMembership   bool
	TransactionalID    string
	SessionTimeout     time.Duration
	TransactionTimeout time.Duration
	// Linger is how long the producer waits to fill a produce request
	// (zero: send as soon as the previous request returned).
	Linger time.Duration
	Hooks  []ConfigHook
}

// MinKafkaVersion is the oldest broker version whose TxnOffsetCommit carries
// the group generation and member ID (KIP-447).
var MinKafkaVersion = sarama.V2_5_0_0

// Configs returns the consumer-group and the transactional-producer
// configurations, each validated by sarama after the hooks ran. mp
// receives the group's broker figures (nil: the otel global).
func Configs(cs conn.Settings, s Settings, mp metric.MeterProvider) (*saramagroup.Config, *sarama.Config, error) {
	consumer, err := saramax.NewConfig(cs)
	if err != nil {
		return nil, nil, err
	}
	gs := saramagroup.Settings{
		SessionTimeout:    s.SessionTimeout,
		HeartbeatInterval: max(s.SessionTimeout/6, 100*time.Millisecond),
		RebalanceTimeout:  2 * s.SessionTimeout,
		// Offsets are committed only inside transactions; sarama must
		// never commit on its own (Configure turns auto-commit off).
		ReadCommitted: true,
		Eager:         true,
	}
	if s.StaticMembership {
		gs.InstanceID = s.InstanceID
	}
	saramagroup.Configure(consumer, gs)

	producer, err := saramax.NewConfig(cs)
	if err != nil {
		return nil, nil, err
	}
	producer.ClientID = cs.ClientID
	producer.Producer.RequiredAcks = sarama.WaitForAll
	producer.Producer.Idempotent = true
	producer.Net.MaxOpenRequests = 1
	producer.Producer.Transaction.ID = s.TransactionalID
	producer.Producer.Transaction.Timeout = s.TransactionTimeout
	// Bounded so a producer cut off from the cluster gives up within
	// seconds; an EndTxn that exhausts them has an unknown outcome, which
	// the session resolves from the stable offsets.
	producer.Producer.Transaction.Retry.Max = 10
	producer.Producer.Transaction.Retry.Backoff = 100 * time.Millisecond
	producer.Producer.Retry.Max = 5
	producer.Producer.Retry.Backoff = 100 * time.Millisecond
	// The produce engine (Producer) reads the transaction's ID, timeout
	// and retries, Flush.Frequency (linger) and Retry.Backoff from here;
	// it always hashes keys with murmur2 (Java-compatible), acks=all and
	// one request in flight per broker, whatever the hooks set. The
	// settings below keep the config valid for sarama's checks.
	producer.Producer.Return.Successes = true
	producer.Producer.Return.Errors = true
	producer.Producer.Flush.Frequency = s.Linger
	producer.Producer.Partitioner = sarama.NewMurmur2Partitioner

	for _, h := range s.Hooks {
		h(consumer)
		h(producer)
	}
	if !consumer.Version.IsAtLeast(MinKafkaVersion) || !producer.Version.IsAtLeast(MinKafkaVersion) {
		return nil, nil, fmt.Errorf("%w: Kafka version %s is older than %s, which group-fenced transactions need",
			conn.ErrInvalidSettings, consumer.Version, MinKafkaVersion)
	}
	switch {
	case consumer.Consumer.IsolationLevel != sarama.ReadCommitted:
		return nil, nil, fmt.Errorf("%w: exactly-once needs Consumer.IsolationLevel ReadCommitted", conn.ErrInvalidSettings)
	case consumer.Consumer.Offsets.AutoCommit.Enable:
		return nil, nil, fmt.Errorf("%w: exactly-once needs Consumer.Offsets.AutoCommit disabled", conn.ErrInvalidSettings)
	case producer.Producer.Transaction.ID == "" || !producer.Producer.Idempotent:
		return nil, nil, fmt.Errorf("%w: exactly-once needs a transactional, idempotent producer", conn.ErrInvalidSettings)
	case producer.Producer.Transaction.Timeout >= consumer.Consumer.Group.Session.Timeout:
		// Checked again after the hooks: a member that dies mid-transaction
		// must have its transaction aborted by the broker before its
		// partitions are handed on.
		return nil, nil, fmt.Errorf("%w: exactly-once needs Producer.Transaction.Timeout (%v) shorter than Consumer.Group.Session.Timeout (%v)",
			conn.ErrInvalidSettings, producer.Producer.Transaction.Timeout, consumer.Consumer.Group.Session.Timeout)
	}
	if err := saramax.Validate(consumer); err != nil {
		return nil, nil, err
	}
	if err := saramax.Validate(producer); err != nil {
		return nil, nil, err
	}
	return saramagroup.Wrap(consumer, mp), producer, nil
}
