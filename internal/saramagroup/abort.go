package saramagroup

import (
	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Abortable cuts the connections of one sarama config at once; it is
// [saramax.Aborter], named here for the group's callers.
type Abortable = saramax.Aborter

// MakeAbortable is [saramax.MakeAbortable].
func MakeAbortable(cfg *sarama.Config) *Abortable { return saramax.MakeAbortable(cfg) }
