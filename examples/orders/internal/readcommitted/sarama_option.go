// Package readcommitted gives the pipeline's at-least-once consumers
// read_committed isolation.
//
// Most topics here are written in transactions (the order service's and the
// inventory's). A consumer reading them must not see records of aborted
// transactions, or the payment service would charge an order whose
// reservation was rolled back. package consumer reads with sarama's
// default, read_uncommitted, and has no option for the isolation level, so
// this sets it through the consumer's documented sarama escape hatch.
package readcommitted

import (
	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/consumer"
)

// Option makes a consumer read committed records only.
func Option() consumer.Option {
	return consumer.WithSaramaConfig(func(c *sarama.Config) {
		c.Consumer.IsolationLevel = sarama.ReadCommitted
	})
}
