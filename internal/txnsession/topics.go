package txnsession

import "github.com/bulwarkgo/bulwark/internal/saramax"

// MissingTopics returns those of topics the cluster does not have.
func (g *Group) MissingTopics(topics []string) ([]string, error) {
	return saramax.MissingTopics(g.client, g.client.Config().Version, topics)
}

// Close closes a group that will not Run (Run closes it itself).
func (g *Group) Close() {
	_ = g.cg.Close()
	_ = g.client.Close()
}
