package saramax

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// MissingTopics asks the cluster, in one metadata request that creates
// nothing, which of topics do not exist. A topic with another error (not
// authorized, no leader yet) counts as present: the consumer's own calls
// report those.
func MissingTopics(client sarama.Client, topics []string) ([]string, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	b := client.LeastLoadedBroker()
	if b == nil {
		return nil, sarama.ErrOutOfBrokers
	}
	req := sarama.NewMetadataRequest(client.Config().Version, topics)
	req.AllowAutoTopicCreation = false
	resp, err := b.GetMetadata(req)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	seen := make(map[string]bool, len(resp.Topics))
	var missing []string
	for _, t := range resp.Topics {
		seen[t.Name] = true
		if errors.Is(t.Err, sarama.ErrUnknownTopicOrPartition) {
			missing = append(missing, t.Name)
		}
	}
	for _, t := range topics {
		if !seen[t] {
			missing = append(missing, t)
		}
	}
	return missing, nil
}

// IsUnknownTopic reports whether err says a topic does not exist.
func IsUnknownTopic(err error) bool { return errors.Is(err, sarama.ErrUnknownTopicOrPartition) }
