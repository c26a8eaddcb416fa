package consumer

import "github.com/IBM/sarama"

// saramaTweak is the escape hatch's function type; named here so that only
// this file mentions sarama.
type saramaTweak = func(*sarama.Config)

// WithSaramaConfig lets f change the sarama configuration after bulwark's
// defaults and before validation. It is the escape hatch for settings
// bulwark does not expose; changing the group strategy, auto-commit or
// Consumer.Return.Errors breaks the consumer's guarantees.
func WithSaramaConfig(f func(*sarama.Config)) Option {
	return func(c *config) {
		if f == nil {
			c.invalid("sarama config function is nil")
		}
		c.saramaTweaks = append(c.saramaTweaks, f)
	}
}

func (c *config) applySaramaTweaks(cfg *sarama.Config) {
	for _, f := range c.saramaTweaks {
		f(cfg)
	}
}
