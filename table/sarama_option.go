package table

import "github.com/IBM/sarama"

// saramaHook edits the sarama configuration; see [WithSaramaConfig].
type saramaHook = func(*sarama.Config)

// WithSaramaConfig is the escape hatch to sarama settings bulwark does not
// expose (fetch sizes, say). fn runs after the table's own settings are
// applied and before the result is validated, so it can change anything,
// including the read_committed isolation the restore relies on. Code using
// it depends on sarama's API.
func WithSaramaConfig(fn func(*sarama.Config)) Option {
	return func(c *config) error {
		if fn == nil {
			return invalidConfig("sarama config hook is nil")
		}
		c.saramaHooks = append(c.saramaHooks, fn)
		return nil
	}
}

func (c *config) saramaTweak() func(*sarama.Config) {
	if len(c.saramaHooks) == 0 {
		return nil
	}
	return func(cfg *sarama.Config) {
		for _, h := range c.saramaHooks {
			h(cfg)
		}
	}
}
