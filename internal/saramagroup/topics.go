package saramagroup

import "github.com/bulwarkgo/bulwark/internal/saramax"

// MissingTopics returns those of topics the cluster does not have.
func (g *Group) MissingTopics(topics []string) ([]string, error) {
	return saramax.MissingTopics(g.client, g.client.Config().Version, topics)
}

// IsUnknownTopic reports whether an error from Consume says a subscribed
// topic does not exist.
func IsUnknownTopic(err error) bool { return saramax.IsUnknownTopic(err) }
