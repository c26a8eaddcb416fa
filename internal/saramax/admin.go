package saramax

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// ErrTopicExists is returned by [TopicAdmin.CreateTopic] when the topic
// exists already (created meanwhile by someone else, typically).
var ErrTopicExists = errors.New("topic already exists")

// TopicSpec is a topic to create. Zero Partitions or ReplicationFactor
// leave the choice to the broker's defaults.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string
}

// TopicState is what the cluster says about an existing topic.
type TopicState struct {
	Partitions int32
	// ReplicationFactor is the largest replica count of any partition.
	ReplicationFactor int16
	// Configs holds the effective value of every config the broker
	// reported, defaults included.
	Configs map[string]string
}

// TopicAdmin creates and describes topics. It is not safe for concurrent
// use; Close it when done.
type TopicAdmin struct {
	admin sarama.ClusterAdmin
}

// NewTopicAdmin connects to the cluster. cfg comes from [NewConfig].
func NewTopicAdmin(brokers []string, cfg *sarama.Config) (*TopicAdmin, error) {
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return nil, err
	}
	return &TopicAdmin{admin: admin}, nil
}

// Close disconnects. Calls in progress fail promptly. It is idempotent.
func (a *TopicAdmin) Close() error {
	err := a.admin.Close()
	if errors.Is(err, sarama.ErrClosedClient) {
		return nil
	}
	return err
}

// DescribeTopics returns the state of those of names that exist; missing
// topics are absent from the map, and so are topics too new to have
// leaders yet (a real broker answers LEADER_NOT_AVAILABLE for a moment
// after a create): callers that poll for a new topic just ask again.
func (a *TopicAdmin) DescribeTopics(names []string) (map[string]TopicState, error) {
	if len(names) == 0 {
		return map[string]TopicState{}, nil
	}
	metas, err := a.admin.DescribeTopics(names)
	if err != nil {
		return nil, err
	}
	states := make(map[string]TopicState, len(metas))
	var resources []*sarama.ConfigResource
	for _, m := range metas {
		switch {
		case errors.Is(m.Err, sarama.ErrUnknownTopicOrPartition), errors.Is(m.Err, sarama.ErrLeaderNotAvailable):
			continue
		case !errors.Is(m.Err, sarama.ErrNoError):
			return nil, fmt.Errorf("describe topic %s: %w", m.Name, m.Err)
		}
		st := TopicState{Partitions: int32(len(m.Partitions)), Configs: map[string]string{}}
		for _, p := range m.Partitions {
			st.ReplicationFactor = max(st.ReplicationFactor, int16(len(p.Replicas)))
		}
		states[m.Name] = st
		resources = append(resources, &sarama.ConfigResource{Type: sarama.TopicResource, Name: m.Name})
	}
	if len(resources) == 0 {
		return states, nil
	}
	results, err := a.admin.DescribeConfigs(resources, sarama.DescribeConfigsOptions{})
	if err != nil {
		return nil, fmt.Errorf("describe topic configs: %w", err)
	}
	for _, r := range results {
		st, ok := states[r.Name]
		if !ok {
			continue
		}
		if r.ErrorCode != 0 {
			if errors.Is(r.ErrorCode, sarama.ErrUnknownTopicOrPartition) {
				delete(states, r.Name) // deleted between the two requests
				continue
			}
			return nil, fmt.Errorf("describe configs of topic %s: %w", r.Name, r.ErrorCode)
		}
		for _, c := range r.Configs {
			st.Configs[c.Name] = c.Value
		}
	}
	return states, nil
}

// CreateTopic creates spec. It returns an error matching [ErrTopicExists]
// when the topic exists already.
func (a *TopicAdmin) CreateTopic(spec TopicSpec) error {
	detail := &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1}
	if spec.Partitions > 0 {
		detail.NumPartitions = spec.Partitions
	}
	if spec.ReplicationFactor > 0 {
		detail.ReplicationFactor = spec.ReplicationFactor
	}
	if len(spec.Configs) > 0 {
		detail.ConfigEntries = make(map[string]*string, len(spec.Configs))
		for k, v := range spec.Configs {
			detail.ConfigEntries[k] = &v
		}
	}
	err := a.admin.CreateTopic(spec.Name, detail, false)
	if errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("%w: %w", ErrTopicExists, err)
	}
	return err
}
