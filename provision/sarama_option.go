package provision

import (
	"fmt"

	"github.com/IBM/sarama"
)

// saramaHook edits the sarama configuration; see [WithSaramaConfig].
type saramaHook = func(*sarama.Config)

// WithSaramaConfig is the escape hatch to sarama settings bulwark does not
// expose (admin request timeouts and retries, for instance). fn runs after
// the connection settings are applied and before the result is validated.
// Code using it depends on sarama's API.
func WithSaramaConfig(fn func(*sarama.Config)) Option {
	return func(c *config) error {
		if fn == nil {
			return fmt.Errorf("%w: sarama config hook is nil", ErrInvalidConfig)
		}
		c.saramaHooks = append(c.saramaHooks, fn)
		return nil
	}
}

func applySaramaHooks(cfg *sarama.Config, hooks []saramaHook) {
	for _, h := range hooks {
		h(cfg)
	}
}
