package provision

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalidConfig is wrapped by errors from bad options, connection
	// settings included (those also match conn.ErrInvalidSettings).
	ErrInvalidConfig = errors.New("provision: invalid config")
	// ErrInvalidTopic is wrapped by errors from a bad topic declaration.
	ErrInvalidTopic = errors.New("provision: invalid topic declaration")
	// ErrDrift is matched by a [*DriftError]: an existing topic differs
	// from its declaration.
	ErrDrift = errors.New("provision: topic drifted from its declaration")
)

// Difference is one way an existing topic differs from its declaration.
type Difference struct {
	Topic string
	// Setting is "partitions", "replication.factor" or the config's name.
	Setting string
	// Want is the declared value, Have the cluster's ("" when the broker
	// does not report the config).
	Want, Have string
}

func (d Difference) String() string {
	have := d.Have
	if have == "" {
		have = "(not reported)"
	}
	return fmt.Sprintf("%s: %s: want %s, have %s", d.Topic, d.Setting, d.Want, have)
}

// DriftError lists every difference between existing topics and their
// declarations. Ensure changes none of them: fixing drift (adding
// partitions, altering configs) is an operator's decision.
type DriftError struct {
	Differences []Difference
}

func (e *DriftError) Error() string {
	parts := make([]string, len(e.Differences))
	for i, d := range e.Differences {
		parts[i] = d.String()
	}
	return fmt.Sprintf("%s: %s", ErrDrift, strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrDrift) true.
func (e *DriftError) Is(target error) bool { return target == ErrDrift }
