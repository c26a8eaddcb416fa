package eos

import "github.com/IBM/sarama"

// saramaHook edits a sarama configuration; see [WithSaramaConfig].
type saramaHook = func(*sarama.Config)

// WithSaramaConfig is the escape hatch to sarama settings eos does not
// expose. fn runs twice, once on the consumer-group configuration and once
// on the transactional producer's, after eos's settings and before
// validation. Changes that break exactly-once (isolation level other than
// read_committed, auto-commit, a non-transactional producer, a Kafka
// version before 2.5.0, a transaction timeout not shorter than the session
// timeout) are rejected by New. Code using it depends on sarama's API.
func WithSaramaConfig(fn func(*sarama.Config)) Option {
	return func(o *options) error {
		if fn == nil {
			return invalidConfig("sarama config hook is nil")
		}
		o.saramaHooks = append(o.saramaHooks, fn)
		return nil
	}
}
