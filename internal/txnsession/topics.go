package txnsession

import "github.com/bulwarkgo/bulwark/internal/saramax"

// MissingTopics returns those of the group's topics the cluster does not
// have.
func (g *Group) MissingTopics() ([]string, error) {
	return saramax.MissingTopics(g.client, g.client.Config().Version, g.topics)
}

// Close closes a group that will not Run (Run closes it itself).
func (g *Group) Close() {
	_ = g.cg.Close()
	_ = g.client.Close()
}
