package eos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/deadletter"
	"github.com/bulwarkgo/bulwark/internal/fate"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"github.com/bulwarkgo/bulwark/internal/txnsession"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// errEndGeneration ends the current generation without stopping Run: the
// partitions are being revoked, or this member turned out to be stale.
var errEndGeneration = errors.New("eos: end of generation")

// attempts counts how often an uncommitted record was processed without
// success: all failed deliveries, and those that count towards the
// dead-letter limit (retryable errors; pauses do not). dead is the cause
// once the record was sent to its dead-letter topic: when that
// transaction aborts (the dead-letter write failed, say), the record is
// dead-lettered again on replay without running the handler again, so a
// dead-letter topic that is down costs no handler call and no attempt.
type attempts struct {
	deliveries, retryable int
	// pauses counts consecutive pauses, for the growing pause delay.
	pauses int
	dead   error
}

type recordKey struct {
	tp     txnsession.TopicPartition
	offset int64
}

// txnLoop runs the transactions of one generation, on one goroutine.
//
// Rewinding needs no seek: the records between the committed offsets and
// the consumer's position are exactly the inputs of the open transaction,
// which the loop keeps. After an abort they are processed again (replay)
// before anything new is read.
type txnLoop struct {
	s   *Session
	p   *txnsession.Producer
	gen *txnsession.Generation
	out outputs

	// the open transaction
	open     bool
	inputs   []*bulwark.Message
	next     map[txnsession.TopicPartition]int64 // offset to commit, per partition
	dlInTxn  int64
	span     trace.Span
	timer    *time.Timer
	timerSet bool
	// when the last Commit began, for the commit latency
	commitStart time.Time

	failures    map[recordKey]attempts // handler failures of uncommitted records
	replay      []*bulwark.Message
	txnFailures int // consecutive failed transactions, for backoff

	marks markerState // markers.go

	// limits is the record-fate policy's configuration (internal/fate):
	// eos counts a record's retryable failures across pauses and grows
	// every pause (Cumulative), since a record whose transaction keeps
	// aborting holds the whole session.
	limits fate.Limits
}

func newTxnLoop(s *Session, p *txnsession.Producer, gen *txnsession.Generation) *txnLoop {
	return &txnLoop{
		s:        s,
		p:        p,
		gen:      gen,
		next:     make(map[txnsession.TopicPartition]int64),
		failures: make(map[recordKey]attempts),
		inputs:   make([]*bulwark.Message, 0, s.opts.batchSize),
		span:     trace.SpanFromContext(context.Background()), // no-op until the first begin
		limits: fate.Limits{MaxAttempts: s.opts.maxAttempts, Backoff: s.opts.retryPolicy(),
			PauseDelay: s.opts.pauseDelay, MaxPauseDelay: s.opts.maxPauseDelay, Cumulative: true},
	}
}

// run processes records until the generation ends (ctx) or a fatal error.
// runCtx is Run's context, to tell a stop from a rebalance.
func (l *txnLoop) run(runCtx, ctx context.Context) error {
	l.timer = time.NewTimer(time.Hour)
	l.timer.Stop()
	defer l.timer.Stop()
	l.initMarkers()
	defer l.stopMarkers()
	for {
		var msg *bulwark.Message
		if len(l.replay) > 0 {
			if ctx.Err() != nil {
				return l.finish(runCtx)
			}
			msg = l.replay[0]
			l.replay[0] = nil
			l.replay = l.replay[1:]
		} else {
			select {
			case msg = <-l.gen.Records:
			case <-l.timer.C:
				l.timerSet = false
				if err := l.commit(ctx); err != nil {
					return l.result(runCtx, err)
				}
				continue
			case <-l.marks.ticker.C:
				l.checkIdle()
				continue
			case res := <-l.marks.results:
				if err := l.probed(res); err != nil {
					return l.result(runCtx, err)
				}
				continue
			case <-ctx.Done():
				return l.finish(runCtx)
			}
		}
		if err := l.process(ctx, msg); err != nil {
			return l.result(runCtx, err)
		}
	}
}

func (l *txnLoop) result(runCtx context.Context, err error) error {
	if errors.Is(err, errEndGeneration) {
		return l.finish(runCtx)
	}
	return err
}

// finish ends the generation: the open transaction is aborted before the
// partitions are released (the caller returns only after this).
func (l *txnLoop) finish(runCtx context.Context) error {
	if !l.open {
		return nil
	}
	reason := reasonRevoked
	if runCtx.Err() != nil {
		reason = reasonStopped
	}
	if err := l.abort(reason, nil); err != nil {
		if errors.Is(err, ErrFenced) || runCtx.Err() == nil {
			return err
		}
		// Stopping anyway: the broker aborts it after the transaction
		// timeout, or the next producer with our ID does at once.
		l.s.opts.logger.Warn("eos: abort on stop failed", "transactional_id", l.s.txnID, "error", err)
	}
	return nil
}

func (l *txnLoop) process(ctx context.Context, msg *bulwark.Message) error {
	if ctx.Err() != nil {
		return errEndGeneration
	}
	if !l.open {
		if err := l.begin(); err != nil {
			return err
		}
	}
	key := recordKey{txnsession.TopicPartition{Topic: msg.Topic, Partition: msg.Partition}, msg.Offset}
	var fails attempts
	if len(l.failures) > 0 {
		fails = l.failures[key]
	}
	if fails.dead != nil {
		l.deadLetter(msg, fails.dead)
		return l.accepted(ctx, msg)
	}
	msg.Attempt = fails.deliveries + 1
	l.out.reset()
	hctx := ctx
	if l.span.IsRecording() {
		hctx = trace.ContextWithSpan(ctx, l.span)
	}
	start := time.Now()
	herr := l.s.handler.Process(hctx, msg, &l.out)
	l.s.inst.processed(ctx, msg.Topic, time.Since(start))
	if herr == nil {
		herr = l.checkOutputs()
	}
	if herr != nil {
		if ctx.Err() != nil {
			return errEndGeneration
		}
		d, next := fate.Next(herr, fate.State{Limits: &l.limits, Retries: fails.retryable, Pauses: fails.pauses})
		switch d.Kind {
		case fate.Pause:
			l.failures[key] = attempts{deliveries: fails.deliveries + 1, retryable: next.Retries, pauses: next.Pauses}
			return l.abortAndRetry(ctx, msg, reasonPause, herr, d.Delay)
		case fate.Retry:
			l.failures[key] = attempts{deliveries: fails.deliveries + 1, retryable: next.Retries}
			return l.abortAndRetry(ctx, msg, reasonRetryable, herr, d.Delay)
		default:
			// The retryable count stays as it was: a dead record is never
			// handled again (dead replays its dead letter).
			l.failures[key] = attempts{deliveries: fails.deliveries + 1, retryable: fails.retryable, dead: herr}
			l.deadLetter(msg, herr)
		}
	} else {
		for _, o := range l.out.msgs {
			l.send(o)
		}
	}
	return l.accepted(ctx, msg)
}

// deadLetter sends msg's dead letter in the open transaction.
func (l *txnLoop) deadLetter(msg *bulwark.Message, cause error) {
	dlt := l.s.opts.deadLetterTopic(msg.Topic)
	l.s.opts.logger.Warn("eos: dead-lettering record", "topic", msg.Topic, "partition", msg.Partition,
		"offset", msg.Offset, "dead_letter_topic", dlt, "attempts", msg.Attempt, "error", cause)
	l.send(deadletter.Record(dlt, l.s.group, msg, cause, msg.Attempt))
	l.dlInTxn++
}

// accepted adds msg, processed, to the open transaction and commits when
// the batch is full.
func (l *txnLoop) accepted(ctx context.Context, msg *bulwark.Message) error {
	l.accept(msg)
	if l.p.InError() {
		return l.fail(ctx, l.p.Err(), reasonProduce)
	}
	if len(l.inputs) >= l.s.opts.batchSize {
		return l.commit(ctx)
	}
	return nil
}

// errNoTopic is the (permanent) handler error for an output without topic.
var errNoTopic = errors.New("eos: emitted record has no topic")

func (l *txnLoop) checkOutputs() error {
	for _, o := range l.out.msgs {
		if o.Topic == "" {
			return bulwark.Permanent(errNoTopic)
		}
	}
	return nil
}

// fenced counts a fencing of this session's producer and says so.
func (l *txnLoop) fenced(err error) error {
	l.s.inst.fencedEvent("producer")
	return &FencedError{TransactionalID: l.s.txnID, Err: err}
}

func (l *txnLoop) begin() error {
	if err := l.p.Begin(); err != nil {
		if produce.Classify(err) == produce.Fenced {
			return l.fenced(err)
		}
		return &ProducerError{TransactionalID: l.s.txnID, Op: reasonBegin, Err: err}
	}
	l.open = true
	l.timer.Reset(l.s.opts.batchInterval)
	l.timerSet = true
	_, l.span = l.s.inst.tracer.Start(context.Background(), "eos transaction",
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(l.s.inst.client...),
		trace.WithAttributes(l.s.inst.group, attribute.String("messaging.kafka.transactional_id", l.s.txnID)))
	return nil
}

func (l *txnLoop) send(o *bulwark.Message) {
	// Once a record failed the transaction can only abort: sending more
	// is wasted, and sarama (1.61.1) races reading its last error when a
	// record arrives in that state.
	if l.p.InError() {
		return
	}
	if l.span.IsRecording() {
		telemetry.Inject(trace.ContextWithSpan(context.Background(), l.span), o)
	}
	l.p.Send(o)
}

func (l *txnLoop) accept(msg *bulwark.Message) {
	l.inputs = append(l.inputs, msg)
	l.next[txnsession.TopicPartition{Topic: msg.Topic, Partition: msg.Partition}] = msg.Offset + 1
	if l.span.IsRecording() {
		if sc := trace.SpanContextFromContext(telemetry.Extract(context.Background(), msg)); sc.IsValid() {
			l.span.AddLink(trace.Link{SpanContext: sc})
		}
	}
}

func (l *txnLoop) stopTimer() {
	if l.timerSet {
		l.timer.Stop()
		l.timerSet = false
	}
}

// commit sends the offsets with the group metadata and commits. It never
// commits once the generation is ending.
func (l *txnLoop) commit(ctx context.Context) error {
	l.stopTimer()
	if !l.open {
		return nil
	}
	if ctx.Err() != nil {
		return errEndGeneration
	}
	l.commitStart = time.Now()
	if err := l.p.Commit(l.next, l.gen.Meta); err != nil {
		return l.fail(ctx, err, reasonCommit)
	}
	l.committed()
	l.txnFailures = 0
	return nil
}

// committed records a committed transaction and clears it.
func (l *txnLoop) committed() {
	now := time.Now()
	l.s.inst.committed(int64(len(l.inputs)), l.dlInTxn, now.Sub(l.commitStart), now)
	if l.span.IsRecording() {
		l.span.SetAttributes(telemetry.MessagingBatchCount.Int(len(l.inputs)))
	}
	l.span.End()
	l.markCommitted()
	if len(l.failures) > 0 {
		for _, m := range l.inputs {
			delete(l.failures, recordKey{txnsession.TopicPartition{Topic: m.Topic, Partition: m.Partition}, m.Offset})
		}
	}
	clear(l.inputs)
	l.inputs = l.inputs[:0]
	l.resetTxn()
}

func (l *txnLoop) resetTxn() {
	l.open = false
	clear(l.next)
	l.dlInTxn = 0
	l.stopTimer()
}

// abort aborts the open transaction and returns its inputs for replay.
func (l *txnLoop) abort(reason string, cause error) error {
	err := l.p.Abort()
	l.endSpan(reason, cause)
	l.resetTxn()
	if err != nil {
		if produce.Classify(err) == produce.Fenced {
			return l.fenced(err)
		}
		return &ProducerError{TransactionalID: l.s.txnID, Op: "abort (" + reason + ")", Err: err}
	}
	l.s.inst.abort(reason)
	l.s.opts.logger.Debug("eos: transaction aborted", "transactional_id", l.s.txnID, "reason", reason, "error", cause)
	return nil
}

func (l *txnLoop) endSpan(reason string, cause error) {
	if l.span.IsRecording() {
		l.span.SetAttributes(attribute.String("bulwark.eos.abort_reason", reason))
		if cause != nil {
			l.span.RecordError(cause)
		}
		l.span.SetStatus(codes.Error, "aborted: "+reason)
	}
	l.span.End()
}

// takeInputs hands the open transaction's inputs to the caller (for
// replay) and gives the loop a fresh slice.
func (l *txnLoop) takeInputs() []*bulwark.Message {
	in := l.inputs
	l.inputs = make([]*bulwark.Message, 0, l.s.opts.batchSize)
	return in
}

// abortAndRetry aborts after a handler error: msg and the batch before it
// are processed again after delay.
func (l *txnLoop) abortAndRetry(ctx context.Context, msg *bulwark.Message, reason string, cause error, delay time.Duration) error {
	inputs := append(l.takeInputs(), msg)
	if err := l.abort(reason, cause); err != nil {
		return err
	}
	l.replay = append(inputs, l.replay...)
	return l.sleep(ctx, delay)
}

// fail handles a failed produce or commit: fenced or fatal stops Run; a
// stale generation ends it; anything else aborts and replays the batch.
func (l *txnLoop) fail(ctx context.Context, err error, reason string) error {
	if err == nil {
		err = errors.New("transaction in error state")
	}
	unknown := reason == reasonCommit && l.p.OutcomeUnknown()
	if unknown {
		return l.failUnknown(ctx, err)
	}
	kind := produce.Classify(err)
	switch kind {
	case produce.Fenced:
		l.endSpan("fenced", err)
		l.resetTxn()
		return l.fenced(err)
	case produce.Fatal:
		l.endSpan("fatal", err)
		l.resetTxn()
		return &ProducerError{TransactionalID: l.s.txnID, Op: reason, Err: err}
	case produce.GroupFenced:
		reason = reasonGroupFenced
		l.s.inst.fencedEvent("group")
		l.gen.MarkLost()
	}
	inputs := l.takeInputs()
	if aerr := l.abort(reason, err); aerr != nil {
		return aerr
	}
	// One failure may be a blip; failing again (a dead-letter or output
	// topic that is down or missing, say) must reach the operator.
	level := slog.LevelInfo
	if l.txnFailures > 0 {
		level = slog.LevelWarn
	}
	l.s.opts.logger.Log(context.Background(), level, "eos: transaction failed", "transactional_id", l.s.txnID, "reason", reason,
		"error", err, "consecutive_failures", l.txnFailures+1)
	if kind == produce.GroupFenced {
		// This member is stale: the partitions belong to another
		// generation now. Rejoin; the new owner starts from stable offsets.
		return errEndGeneration
	}
	return l.retryLater(ctx, inputs)
}

func (l *txnLoop) retryLater(ctx context.Context, inputs []*bulwark.Message) error {
	l.replay = append(inputs, l.replay...)
	l.txnFailures++
	return l.sleep(ctx, l.s.opts.retryPolicy().Delay(l.txnFailures))
}

// errProducerSpent ends runOnce after a transaction of unknown outcome
// turned out to have committed: the abort that probed it left sarama's
// producer unusable, so Run goes on with a fresh one. It is not a failure.
var errProducerSpent = errors.New("eos: producer spent resolving a commit of unknown outcome")

// failUnknown handles a commit whose EndTxn may have reached the
// coordinator (its answer was lost, the retries ran out). Only the broker
// knows the outcome; the session asks it in two ways. An abort the broker
// accepts means the commit had not happened: replay what the stable
// offsets say is not committed. An abort the broker refuses (the
// transaction is no longer open) may mean the commit did happen: the
// stable committed offsets decide; if they are at this transaction's
// offsets it committed, and it is counted as committed, never replayed.
func (l *txnLoop) failUnknown(ctx context.Context, err error) error {
	next := maps.Clone(l.next)
	inputs := l.takeInputs()
	aerr := l.p.Abort()
	if aerr == nil {
		l.endSpan(reasonUnknownState, err)
		l.resetTxn()
		l.s.inst.abort(reasonUnknownState)
		l.s.opts.logger.InfoContext(ctx, "eos: transaction failed", "transactional_id", l.s.txnID, "reason", reasonUnknownState, "error", err)
		// The abort succeeded, so the commit did not happen; still ask
		// the only authority (the stable committed offsets) before
		// replaying.
		var ok bool
		if inputs, ok = l.resolve(ctx, inputs); !ok {
			return errEndGeneration
		}
		return l.retryLater(ctx, inputs)
	}
	if produce.Classify(aerr) == produce.Fenced {
		l.endSpan("fenced", aerr)
		l.resetTxn()
		return l.fenced(aerr)
	}
	if l.landed(ctx, next) {
		l.s.opts.logger.WarnContext(ctx, "eos: transaction of unknown outcome had committed; continuing with a fresh producer",
			"transactional_id", l.s.txnID, "records", len(inputs), "commit_error", err, "abort_error", aerr)
		l.inputs = inputs
		if l.span.IsRecording() {
			l.span.SetAttributes(attribute.String("bulwark.eos.outcome", "resolved-committed"))
		}
		l.committed()
		return errProducerSpent
	}
	l.endSpan(reasonUnknownState, aerr)
	l.resetTxn()
	return &ProducerError{TransactionalID: l.s.txnID, Op: "abort (" + reasonUnknownState + ")", Err: aerr}
}

// landed reports whether the stable committed offsets show that the
// transaction committing next did commit. It gives up (false) after
// twice the transaction timeout: an open transaction keeps the offsets
// unstable until the broker aborts it, which takes at most one.
func (l *txnLoop) landed(ctx context.Context, next map[txnsession.TopicPartition]int64) bool {
	if len(next) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*l.s.opts.transactionTimeout)
	defer cancel()
	offs, err := l.gen.StableOffsets(ctx, slices.Collect(maps.Keys(next)))
	if err != nil {
		l.s.opts.logger.WarnContext(ctx, "eos: cannot resolve a commit of unknown outcome", "transactional_id", l.s.txnID, "error", err)
		return false
	}
	for tp, off := range next {
		if offs[tp] < off {
			return false
		}
	}
	return true
}

// resolve keeps the inputs at or after the stable committed offsets.
func (l *txnLoop) resolve(ctx context.Context, inputs []*bulwark.Message) ([]*bulwark.Message, bool) {
	last := map[txnsession.TopicPartition]int64{}
	for _, m := range inputs {
		last[txnsession.TopicPartition{Topic: m.Topic, Partition: m.Partition}] = m.Offset
	}
	parts := make([]txnsession.TopicPartition, 0, len(last))
	for tp := range last {
		parts = append(parts, tp)
	}
	offs, err := l.gen.StableOffsets(ctx, parts)
	if err != nil {
		return nil, false
	}
	for tp, off := range offs {
		if off > last[tp]+1 {
			l.s.opts.logger.WarnContext(ctx, "eos: committed offset beyond this member's records; rejoining",
				"topic", tp.Topic, "partition", tp.Partition, "committed", off, "last", last[tp])
			return nil, false
		}
	}
	kept := inputs[:0]
	for _, m := range inputs {
		if off := offs[txnsession.TopicPartition{Topic: m.Topic, Partition: m.Partition}]; off == txnsession.NoOffset || m.Offset >= off {
			kept = append(kept, m)
		}
	}
	if len(kept) < len(inputs) {
		l.s.opts.logger.WarnContext(ctx, "eos: transaction of unknown outcome had committed", "transactional_id", l.s.txnID,
			"records", fmt.Sprint(len(inputs)-len(kept)))
	}
	return kept, true
}

// sleep waits d; when ctx ends first the generation ends.
func (l *txnLoop) sleep(ctx context.Context, d time.Duration) error {
	if (clock.Wall{}).Sleep(ctx, d) != nil {
		return errEndGeneration
	}
	return nil
}
