// Package topicname checks topic names by Kafka's own rule, so that a name
// the broker would reject fails where it is configured, not in a retry
// loop against the cluster.
package topicname

import (
	"fmt"
	"regexp"
)

// Kafka's rule for topic names (org.apache.kafka.common.internals.Topic).
var pattern = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// Check returns an error saying why Kafka would reject name, or nil.
func Check(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty topic name")
	case !pattern.MatchString(name) || name == "." || name == "..":
		return fmt.Errorf("topic name %q: a name must be 1 to 249 letters, digits, '.', '_' or '-', and not '.' or '..'", name)
	}
	return nil
}
