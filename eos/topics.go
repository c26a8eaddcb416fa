package eos

import (
	"context"
	"errors"

	"github.com/bulwarkgo/bulwark/internal/topicname"
	"github.com/bulwarkgo/bulwark/internal/topicwait"
	"github.com/bulwarkgo/bulwark/internal/txnsession"
)

// ErrUnknownTopic is matched (errors.Is) by the error Run returns when an
// input topic does not exist; the error names it. With
// [WithWaitForTopics] Run waits for it instead.
var ErrUnknownTopic = errors.New("eos: unknown topic")

// WithWaitForTopics makes Run wait for missing input topics to be created
// instead of returning [ErrUnknownTopic]. While it waits, a WARN line names
// them at growing intervals (at most every 30 s) and the
// bulwark.eos.topics.missing gauge counts them.
func WithWaitForTopics() Option {
	return func(o *options) error { o.waitForTopics = true; return nil }
}

// checkTopicNames rejects names Kafka would reject: the input topics and
// their dead-letter topics.
func checkTopicNames(topics []string, dlt func(string) string) error {
	for _, t := range topics {
		if err := topicname.Check(t); err != nil {
			return invalidConfig("input topic: %v", err)
		}
		if err := topicname.Check(dlt(t)); err != nil {
			return invalidConfig("dead-letter topic of %q: %v", t, err)
		}
	}
	return nil
}

// awaitTopics checks, before joining, that the input topics exist. A
// missing dead-letter topic is only warned about: it matters once a record
// must be dead-lettered (its transactions then fail and are retried). A
// failed metadata request is not decisive: joining then reports what is
// wrong. It returns nil when ctx ends.
func (s *Session) awaitTopics(ctx context.Context, g *txnsession.Group) error {
	defer s.missing.Store(0)
	dlts := make([]string, len(s.topics))
	for i, t := range s.topics {
		dlts[i] = s.opts.deadLetterTopic(t)
	}
	return topicwait.Await(ctx, topicwait.Check{
		Missing:           g.MissingTopics,
		Required:          s.topics,
		DeadLetter:        dlts,
		Wait:              s.opts.waitForTopics,
		Unknown:           ErrUnknownTopic,
		Waiting:           func(missing []string) { s.missing.Store(int64(len(missing))) },
		Log:               s.opts.logger,
		CannotCheck:       "eos: cannot check that the input topics exist",
		DeadLetterMissing: "eos: dead-letter topic missing: a transaction holding a dead letter will fail and be retried until the topic exists",
		WaitingFor:        "eos: waiting for input topics to be created",
	})
}
