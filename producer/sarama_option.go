package producer

import "github.com/IBM/sarama"

// saramaHook edits the sarama configuration; see [WithSaramaConfig].
type saramaHook = func(*sarama.Config)

// WithSaramaConfig is the escape hatch to sarama settings bulwark does not
// expose. fn runs after the producer's own settings are applied and before
// the result is validated, so it can change anything, including what makes
// the producer idempotent. Code using it depends on sarama's API.
func WithSaramaConfig(fn func(*sarama.Config)) Option {
	return func(c *config) error {
		if fn == nil {
			return invalidConfig("sarama config hook is nil")
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
