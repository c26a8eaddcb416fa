package consumer

import (
	"context"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/backoff"
)

// blockedLogEvery spaces the WARN lines of a partition blocked on a write.
const blockedLogEvery = 30 * time.Second

// writeBlocking writes out, a dead letter or a record moved on to a retry
// topic, for a record of r's partition (r may be nil), and returns once
// the broker acknowledged it or ctx ended. A failed write says the topic
// or the cluster is unavailable, not that the record is bad: it is retried
// with growing delay, the handler does not run again, no attempt is used
// and nothing is dead-lettered. Meanwhile the partition is paused, shows
// the topic in PartitionStats.BlockedOn, counts in
// bulwark.consumer.writes.failed and is logged at WARN.
func (c *Consumer) writeBlocking(ctx context.Context, r *partitionRunner, out *bulwark.Message) error {
	err := c.dlt.write(ctx, out)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if r != nil {
		r.blockBegin(out.Topic, err)
		defer r.blockEnd()
	}
	delays := backoff.Policy{Initial: max(c.cfg.retryInitial, minWriteRetry), Max: max(c.cfg.retryMax, c.cfg.pauseDelay)}
	var logged time.Time
	for try := 1; ; try++ {
		c.counts.addWriteFailure()
		c.tel.writeFailed.Add(context.Background(), 1, c.tel.topic(out.Topic).addOpts...)
		delay := max(minWriteRetry, delays.Delay(try))
		if time.Since(logged) >= blockedLogEvery {
			logged = time.Now()
			c.log.WarnContext(ctx, "write failed; the partition waits until it succeeds (no attempt used, nothing dead-lettered)",
				"topic", out.Topic, "for_topic", partitionTopic(r), "for_partition", partitionNumber(r),
				"failures", try, "next_try", delay, "error", err)
		}
		if sleep(ctx, delay) != nil {
			return ctx.Err()
		}
		if err = c.dlt.write(ctx, out); err == nil {
			c.log.WarnContext(ctx, "write succeeded again; partition resumes", "topic", out.Topic,
				"for_topic", partitionTopic(r), "for_partition", partitionNumber(r), "failures", try)
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if r != nil {
			r.blockUpdate(err)
		}
	}
}

// minWriteRetry is the least delay between tries of a failed write: with
// in-place retries of a millisecond, a dead-letter topic that is down
// must not be hammered.
const minWriteRetry = 50 * time.Millisecond

func partitionTopic(r *partitionRunner) string {
	if r == nil {
		return ""
	}
	return r.topic
}

func partitionNumber(r *partitionRunner) int32 {
	if r == nil {
		return -1
	}
	return r.partition
}

// runnerKey finds, in a handler's context, the partition it handles.
type runnerKey struct{}

func runnerFrom(ctx context.Context) *partitionRunner {
	r, _ := ctx.Value(runnerKey{}).(*partitionRunner)
	return r
}

// blockBegin marks the partition as blocked on a write to topic and
// pauses it: other workers of the partition wait too (the topic they
// would write to is down as well), fetching stops.
func (r *partitionRunner) blockBegin(topic string, err error) {
	r.pmu.Lock()
	r.blocked++
	r.blockedOn, r.blockedErr = topic, err
	r.pmu.Unlock()
	r.pauseBegin()
}

func (r *partitionRunner) blockUpdate(err error) {
	r.pmu.Lock()
	r.blockedErr = err
	r.pmu.Unlock()
}

func (r *partitionRunner) blockEnd() {
	r.pmu.Lock()
	r.blocked--
	if r.blocked == 0 {
		r.blockedOn, r.blockedErr = "", nil
	}
	r.pmu.Unlock()
	r.pauseEnd()
}

// blockState returns what the partition is blocked on, if anything.
func (r *partitionRunner) blockState() (string, error) {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	return r.blockedOn, r.blockedErr
}
