package eos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/topicname"
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

// topicWaitMax caps the interval between checks while Run waits for
// topics.
const topicWaitMax = 30 * time.Second

// awaitTopics checks, before joining, that the input topics exist. A
// missing dead-letter topic is only warned about: it matters once a record
// must be dead-lettered (its transactions then fail and are retried). A
// failed metadata request is not decisive: joining then reports what is
// wrong. It returns nil when ctx ends.
func (s *Session) awaitTopics(ctx context.Context, g *txnsession.Group) error {
	defer s.missing.Store(0)
	dlts := map[string]bool{}
	for _, t := range s.topics {
		dlts[s.opts.deadLetterTopic(t)] = true
	}
	ask := slices.Concat(s.topics, slices.Sorted(maps.Keys(dlts)))
	for try := 1; ; try++ {
		all, err := g.MissingTopics(ask)
		if err != nil {
			s.opts.logger.WarnContext(ctx, "eos: cannot check that the input topics exist", "error", err)
			return nil
		}
		var missing, dl []string
		for _, t := range all {
			if slices.Contains(s.topics, t) {
				missing = append(missing, t)
			} else {
				dl = append(dl, t)
			}
		}
		if len(missing) == 0 {
			if len(dl) > 0 {
				s.opts.logger.WarnContext(ctx, "eos: dead-letter topic missing: a transaction holding a dead letter will fail and be retried until the topic exists",
					"topics", strings.Join(dl, ","))
			}
			return nil
		}
		if !s.opts.waitForTopics {
			return fmt.Errorf("%w: %s (create it, or use WithWaitForTopics to wait for it)", ErrUnknownTopic, strings.Join(missing, ", "))
		}
		s.missing.Store(int64(len(missing)))
		wait := backoff.Policy{Initial: 250 * time.Millisecond, Max: topicWaitMax}.Delay(try)
		s.opts.logger.WarnContext(ctx, "eos: waiting for input topics to be created", "topics", strings.Join(missing, ","), "next_check", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
