package txnsession

import "github.com/bulwarkgo/bulwark/internal/saramax"

// MissingTopics returns those of topics the cluster does not have.
func (g *Group) MissingTopics(topics []string) ([]string, error) {
	return saramax.MissingTopics(g.client, topics)
}
