package provision

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bulwarkgo/bulwark/internal/topicname"
)

// Topic declares a topic a service needs.
type Topic struct {
	// Name is the topic's name.
	Name string
	// Partitions is the partition count. Zero leaves it to the broker's
	// num.partitions and accepts any count on an existing topic.
	Partitions int32
	// ReplicationFactor is the number of replicas per partition. Zero
	// leaves it to the broker's default.replication.factor and accepts any
	// factor on an existing topic.
	ReplicationFactor int16
	// Configs are topic configs, e.g. "cleanup.policy": "compact",
	// "min.insync.replicas": "2", "retention.ms": "604800000". Only the
	// configs named here are compared with an existing topic; others are
	// left alone whatever their value.
	Configs map[string]string
}

func (t Topic) validate() error {
	switch {
	case topicname.Check(t.Name) != nil:
		return invalidTopic(t.Name, "the name must be 1 to 249 letters, digits, '.', '_' or '-', and not '.' or '..'")
	case t.Partitions < 0:
		return invalidTopic(t.Name, "partitions must not be negative (0: broker default), got %d", t.Partitions)
	case t.ReplicationFactor < 0:
		return invalidTopic(t.Name, "replication factor must not be negative (0: broker default), got %d", t.ReplicationFactor)
	}
	for k, v := range t.Configs {
		if k == "" || strings.ContainsAny(k, " \t\r\n=") {
			return invalidTopic(t.Name, "config name %q is not a Kafka config name", k)
		}
		if v == "" {
			return invalidTopic(t.Name, "config %s has an empty value (leave it out to use the broker's default)", k)
		}
	}
	if v, ok := t.Configs["min.insync.replicas"]; ok {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 1:
			return invalidTopic(t.Name, "min.insync.replicas must be a positive integer, got %q", v)
		case t.ReplicationFactor > 0 && n > int(t.ReplicationFactor):
			// acks=all writes would always fail with NOT_ENOUGH_REPLICAS.
			return invalidTopic(t.Name, "min.insync.replicas %d exceeds the replication factor %d: every acks=all write would fail", n, t.ReplicationFactor)
		}
	}
	return nil
}

func invalidTopic(name, format string, args ...any) error {
	return fmt.Errorf("%w: topic %q: %s", ErrInvalidTopic, name, fmt.Sprintf(format, args...))
}
