package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/deadletter"
	"github.com/bulwarkgo/bulwark/internal/joinerr"
)

// Headers of a record waiting in a retry topic ([WithRetryTopics]); the
// record keeps its own key, value and headers besides.
const (
	HeaderRetrySourceTopic     = "bulwark-retry-topic"     // topic it was first consumed from
	HeaderRetrySourcePartition = "bulwark-retry-partition" // its partition there, decimal
	HeaderRetrySourceOffset    = "bulwark-retry-offset"    // its offset there, decimal
	HeaderRetryAttempts        = "bulwark-retry-attempts"  // handler attempts so far, decimal
	HeaderRetryNotBefore       = "bulwark-retry-not-before"
	HeaderRetryError           = "bulwark-retry-error" // the last failure
)

// RetryTopic names the n-th retry topic of topic: "<topic>.retry.<n>",
// counting from 1.
func RetryTopic(topic string, n int) string { return topic + ".retry." + strconv.Itoa(n) }

// WithRetryTopics moves records that fail with a retryable error out of the
// way instead of retrying them in place (like Spring Kafka's retryable
// topics): the record is written to RetryTopic(topic, 1) and committed, so
// the records behind it go on; after delays[0] the consumer handles it
// again from there, then from RetryTopic(topic, 2) after delays[1], and so
// on; after the last it goes to the dead-letter topic, with the headers
// naming where it first came from. The consumer subscribes to the retry
// topics itself; they must exist (create them like the dead-letter topic,
// e.g. with package provision). A retry topic's partition waits for its
// oldest record by pausing (no fetching, no handler calls), not by
// sleeping per record; delays should not decrease from one topic to the
// next, since each topic's records are handled in order.
//
// The handler sees the record as first consumed (its own topic, the
// Attempt counting every try) except for Partition and Offset, which are
// the retry topic's. Permanent errors still go to the dead-letter topic at
// once and pause-class errors still pause. [WithRetry] still applies to
// each try: with retry topics it bounds only retries in place before the
// record moves on, so set it to 1 attempt to move at once. A write to a
// retry (or dead-letter) topic that fails is a dependency fault, not the
// record's: it is tried again with growing delay while the partition waits
// (PartitionStats.BlockedOn), without running the handler again, using an
// attempt or dead-lettering; the record is not committed before.
func WithRetryTopics(delays ...time.Duration) Option {
	return func(c *config) {
		if len(delays) == 0 {
			c.invalid("WithRetryTopics needs at least one delay")
		}
		for _, d := range delays {
			if d <= 0 {
				c.invalid("retry topic delays must be positive, got %v", d)
			}
		}
		c.retryDelays = append([]time.Duration(nil), delays...)
	}
}

// retryTopics returns the retry topics of topics, in order.
func retryTopics(topics []string, delays []time.Duration) []string {
	var out []string
	for _, t := range topics {
		for n := range delays {
			out = append(out, RetryTopic(t, n+1))
		}
	}
	return out
}

// errNotDue is the pause-class cause of a retry record read too early.
var errNotDue = errors.New("consumer: retry record not due yet")

// retryStage is what a retry record's headers say.
type retryStage struct {
	stage     int // 0: not from a retry topic
	source    string
	partition int32
	offset    int64
	attempts  int
	notBefore time.Time
}

// retrySource returns the source topic and stage of a retry topic; ok is
// false for any other topic.
func retrySource(topic string, sources map[string]bool) (source string, stage int, ok bool) {
	i := strings.LastIndex(topic, ".retry.")
	if i < 0 || !sources[topic[:i]] {
		return "", 0, false
	}
	n, err := strconv.Atoi(topic[i+len(".retry."):])
	if err != nil || n < 1 {
		return "", 0, false
	}
	return topic[:i], n, true
}

// deadLetterTopicOf is the policy's dead-letter topic name with retry
// topics on: a record from a retry topic that fails permanently goes to
// its source topic's dead-letter topic, like one that used up the retry
// topics.
func deadLetterTopicOf(name func(string) string, topics []string) func(string) string {
	sources := map[string]bool{}
	for _, t := range topics {
		sources[t] = true
	}
	return func(topic string) string {
		if src, _, ok := retrySource(topic, sources); ok {
			return name(src)
		}
		return name(topic)
	}
}

func parseRetry(msg *bulwark.Message, sources map[string]bool) (retryStage, error) {
	src, n, ok := retrySource(msg.Topic, sources)
	if !ok {
		return retryStage{}, nil
	}
	var err error
	num := func(key string) (int64, error) {
		v, ok := msg.Header(key)
		if !ok {
			return 0, fmt.Errorf("consumer: retry record without header %s", key)
		}
		return strconv.ParseInt(string(v), 10, 64)
	}
	st := retryStage{stage: n, source: src}
	if v, ok := msg.Header(HeaderRetrySourceTopic); ok {
		st.source = string(v)
	}
	var (
		p, off, att, nb int64
		errs            []error
	)
	p, err = num(HeaderRetrySourcePartition)
	errs = append(errs, err)
	off, err = num(HeaderRetrySourceOffset)
	errs = append(errs, err)
	att, err = num(HeaderRetryAttempts)
	errs = append(errs, err)
	nb, err = num(HeaderRetryNotBefore)
	errs = append(errs, err)
	if err := joinerr.Join(errs...); err != nil {
		return retryStage{}, bulwark.Permanent(err)
	}
	st.partition, st.offset, st.attempts, st.notBefore = int32(p), off, int(att), time.UnixMilli(nb)
	return st, nil
}

// retryTopicHandler wraps the handler when retry topics are on: it holds
// retry records until they are due and moves failing records on.
func (c *Consumer) retryTopicHandler(next bulwark.Handler) bulwark.Handler {
	sources := map[string]bool{}
	for _, t := range c.topics {
		sources[t] = true
	}
	delays := c.cfg.retryDelays
	// Calls answered "not due" count in msg.Attempt (delivery counts every
	// call); they are not tries of the record, so they are kept apart. A
	// record abandoned while waiting (its partition revoked) leaves its
	// small entry behind.
	var early sync.Map // *bulwark.Message -> int
	return bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		st, err := parseRetry(msg, sources)
		if err != nil {
			return err
		}
		view := msg
		tries := msg.Attempt
		if st.stage > 0 {
			if wait := time.Until(st.notBefore); wait > 0 {
				count := 0
				if n, ok := early.Load(msg); ok {
					count = n.(int)
				}
				early.Store(msg, count+1)
				return bulwark.Pause(errNotDue, wait)
			}
			if n, ok := early.LoadAndDelete(msg); ok {
				tries -= n.(int)
			}
			// The handler sees the record as first consumed.
			view = msg.Clone()
			view.Topic = st.source
			view.Attempt = st.attempts + tries
		}
		err = next.Handle(ctx, view)
		if err == nil || bulwark.ClassOf(err) != bulwark.ClassRetryable {
			return err
		}
		origin := st
		if st.stage == 0 {
			origin = retryStage{source: msg.Topic, partition: msg.Partition, offset: msg.Offset}
		}
		attempts := origin.attempts + tries
		if st.stage < len(delays) {
			fwd := msg.Clone()
			fwd.Topic = RetryTopic(origin.source, st.stage+1)
			fwd.Partition, fwd.Offset, fwd.Attempt = 0, 0, 0
			for _, h := range []bulwark.Header{
				{Key: HeaderRetrySourceTopic, Value: []byte(origin.source)},
				{Key: HeaderRetrySourcePartition, Value: []byte(strconv.FormatInt(int64(origin.partition), 10))},
				{Key: HeaderRetrySourceOffset, Value: []byte(strconv.FormatInt(origin.offset, 10))},
				{Key: HeaderRetryAttempts, Value: []byte(strconv.Itoa(attempts))},
				{Key: HeaderRetryNotBefore, Value: []byte(strconv.FormatInt(time.Now().Add(delays[st.stage]).UnixMilli(), 10))},
				{Key: HeaderRetryError, Value: []byte(err.Error())},
			} {
				fwd.SetHeader(h.Key, h.Value)
			}
			if werr := c.writeBlocking(ctx, runnerFrom(ctx), fwd); werr != nil {
				// Only when ctx ended: the record is abandoned, not
				// committed, and delivered again.
				return fmt.Errorf("consumer: write %s: %w (after: %w)", fwd.Topic, werr, err)
			}
			c.counts.addRetried()
			c.log.DebugContext(ctx, "record moved to retry topic", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset,
				"retry_topic", fwd.Topic, "error", err)
			return nil
		}
		// The last retry topic failed too: dead-letter the record as
		// first consumed, so its headers name where it came from.
		orig := msg.Clone()
		orig.Topic, orig.Partition, orig.Offset = origin.source, origin.partition, origin.offset
		orig.Headers = withoutRetryHeaders(orig.Headers)
		dl := deadletter.Record(c.cfg.deadLetterTopic(origin.source), c.group, orig, err, attempts)
		if werr := c.writeBlocking(ctx, runnerFrom(ctx), dl); werr != nil {
			return fmt.Errorf("consumer: write dead letter %s: %w (after: %w)", dl.Topic, werr, err)
		}
		c.counts.addDeadLettered()
		c.tel.deadCtr.Add(ctx, 1, c.tel.topic(origin.source).addOpts...)
		return nil
	})
}

func withoutRetryHeaders(hs []bulwark.Header) []bulwark.Header {
	kept := hs[:0]
	for _, h := range hs {
		if !strings.HasPrefix(h.Key, "bulwark-retry-") {
			kept = append(kept, h)
		}
	}
	return kept
}
