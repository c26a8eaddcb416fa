package consumer

import (
	"context"
	"errors"

	"github.com/bulwarkgo/bulwark/internal/saramagroup"
	"github.com/bulwarkgo/bulwark/internal/topicname"
	"github.com/bulwarkgo/bulwark/internal/topicwait"
)

// ErrUnknownTopic is matched (errors.Is) by the error Run returns when a
// topic it subscribes to (an input topic or one of its retry topics) does
// not exist; the error names the topics. With [WithWaitForTopics] Run
// waits for them instead.
var ErrUnknownTopic = errors.New("consumer: unknown topic")

// WithWaitForTopics makes Run wait for missing input and retry topics to be
// created instead of returning [ErrUnknownTopic]. While it waits, the
// missing topics are in [Stats].MissingTopics and the
// bulwark.consumer.topics.missing gauge, and a WARN line names them at
// growing intervals (at most every 30 s).
func WithWaitForTopics() Option { return func(c *config) { c.waitForTopics = true } }

// checkNames rejects, at New, topic names Kafka would reject: the input
// topics, their dead-letter topics and their retry topics.
func (c *config) checkNames(topics []string) {
	for _, t := range topics {
		if err := topicname.Check(t); err != nil {
			c.invalid("input topic: %v", err)
			continue
		}
		if c.deadLetterTopic != nil {
			if err := topicname.Check(c.deadLetterTopic(t)); err != nil {
				c.invalid("dead-letter topic of %q: %v", t, err)
			}
		}
		for n := range c.retryDelays {
			if err := topicname.Check(RetryTopic(t, n+1)); err != nil {
				c.invalid("retry topic of %q: %v", t, err)
			}
		}
	}
}

// awaitTopics checks, before the first join, that the subscribed topics
// exist: a missing one fails Run with ErrUnknownTopic, or with
// WithWaitForTopics is waited for, visibly. A missing dead-letter topic is
// only warned about: it matters once a record must be dead-lettered, and
// then the partition shows it (PartitionStats.BlockedOn). A failed
// metadata request is not decisive and leaves the question to Consume.
// It returns nil when ctx ends.
func (c *Consumer) awaitTopics(ctx context.Context, g *saramagroup.Group) error {
	defer c.missing.Store(nil)
	dlts := make([]string, len(c.topics))
	for i, t := range c.topics {
		dlts[i] = c.cfg.deadLetterTopic(t)
	}
	return topicwait.Await(ctx, topicwait.Check{
		Missing:           g.MissingTopics,
		Required:          c.subscribed,
		DeadLetter:        dlts,
		Wait:              c.cfg.waitForTopics,
		Unknown:           ErrUnknownTopic,
		Waiting:           func(missing []string) { c.missing.Store(&missing) },
		Log:               c.log,
		CannotCheck:       "cannot check that the topics exist",
		DeadLetterMissing: "dead-letter topic missing: a record that must be dead-lettered will block its partition until the topic exists",
		WaitingFor:        "waiting for topics to be created",
	})
}
