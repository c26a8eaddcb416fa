package consumer

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer/internal/delivery"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Record delivery: a record (or a batch) goes to the handler inside a
// consumer span, under the retry / pause / dead-letter policy of package
// delivery, on the goroutine of the lane that runs it (run's goroutine
// inline, else a worker); envFor connects the policy's hooks to the
// partition (pauses, blocking writes) and the counters.

// deliver handles one record inside a consumer span that continues the
// producer's trace found in the headers.
// h is c.handler, or c.untimed when the handler-duration histogram is known
// to be disabled. It returns how the delivery ended.
func (c *Consumer) deliver(ctx context.Context, h bulwark.Handler, msg *bulwark.Message, env *delivery.Env) delivery.Result {
	// No headers: no trace context or baggage to extract, and ctx (the
	// handlers' context) carries no span, so there is nothing to look up.
	parented := false
	if len(msg.Headers) > 0 {
		ctx = telemetry.Extract(ctx, msg)
		parented = trace.SpanContextFromContext(ctx).IsValid()
	}
	if !parented && c.tel.noTracer() {
		out := delivery.Deliver(ctx, h, msg, &c.policy, env)
		c.countOutcome(ctx, msg, out, nil)
		return out.Result
	}
	tt := c.tel.topic(msg.Topic)
	ctx, span := c.tel.tracer.Start(ctx, tt.spanName, c.tel.startOpts...)
	if span.IsRecording() {
		span.SetAttributes( // and c.tel.client, given at start
			telemetry.MessagingOperationType.String("process"),
			telemetry.MessagingOperationName.String("process"),
			tt.dest,
			telemetry.MessagingDestinationPart.String(strconv.Itoa(int(msg.Partition))),
			telemetry.MessagingKafkaOffset.Int64(msg.Offset),
			c.tel.groupAttr,
		)
		if id := msg.MessageID(); id != "" {
			span.SetAttributes(telemetry.MessagingMessageID.String(id))
		}
	}
	out := delivery.Deliver(ctx, h, msg, &c.policy, env)
	c.countOutcome(ctx, msg, out, span)
	span.End()
	return out.Result
}

// countOutcome counts a finished delivery and marks span (if any) with it.
func (c *Consumer) countOutcome(ctx context.Context, msg *bulwark.Message, out delivery.Outcome, span trace.Span) {
	switch out.Result {
	case delivery.Handled:
		// Counted by the caller, per chunk of records: the counter is
		// shared by every partition, and a write per record to a shared
		// cache line costs more than a no-op handler.
	case delivery.DeadLettered:
		c.counts.addDeadLettered()
		c.tel.deadCtr.Add(ctx, 1, c.tel.topic(msg.Topic).addOpts...)
		if span != nil {
			span.SetStatus(codes.Error, out.Err.Error())
			span.SetAttributes(telemetry.ErrorType.String(bulwark.ClassOf(out.Err).String()))
		}
	case delivery.Abandoned:
		if span != nil {
			span.SetStatus(codes.Error, "abandoned: partition released or consumer stopped")
		}
	}
}

// envFor connects deliveries of r's records to the consumer.
func (c *Consumer) envFor(r *partitionRunner) *delivery.Env {
	return &delivery.Env{
		Sleep:      sleep,
		DeadLetter: func(ctx context.Context, dl *bulwark.Message) error { return c.writeBlocking(ctx, r, dl) },
		OnFailure: func(msg *bulwark.Message, err error) {
			// A pause-class return is not a failure of the record: it says
			// a dependency is down and the record waits for it.
			if bulwark.ClassOf(err) == bulwark.ClassPause {
				c.counts.addPaused()
				c.tel.pausedCtr.Add(context.Background(), 1, c.tel.topicAttrs(msg.Topic))
				return
			}
			c.counts.addFailed()
			c.tel.failedCtr.Add(context.Background(), 1, metric.WithAttributes(c.tel.groupAttr,
				telemetry.MessagingDestinationName.String(msg.Topic),
				telemetry.ErrorType.String(bulwark.ClassOf(err).String())))
		},
		OnRetry: func(msg *bulwark.Message, err error, d time.Duration) {
			c.counts.addRetried()
			c.tel.retriedCtr.Add(context.Background(), 1, c.tel.topicAttrs(msg.Topic))
			c.log.Debug("retrying record", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "attempt", msg.Attempt, "delay", d, "error", err)
		},
		OnPause: func(msg *bulwark.Message, err error, d time.Duration) {
			// A dependency outage must reach the operator (WARN); a retry
			// record waiting for its time is routine.
			level := slog.LevelWarn
			if errors.Is(err, errNotDue) {
				level = slog.LevelDebug
			}
			r.pauseLevels.Store(msg, level)
			c.log.Log(context.Background(), level, "partition paused by handler", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "delay", d, "error", err)
			r.pauseBegin()
		},
		OnResume: func(msg *bulwark.Message) {
			level := slog.LevelInfo
			if l, ok := r.pauseLevels.LoadAndDelete(msg); ok {
				level = l.(slog.Level)
			}
			c.log.Log(context.Background(), level, "partition resumed", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset)
			r.pauseEnd()
		},
	}
}

func sleep(ctx context.Context, d time.Duration) error { return clock.Wall{}.Sleep(ctx, d) }

// deliverBatch handles a batch inside one consumer span linked to the
// producers' spans of its records.
func (c *Consumer) deliverBatch(ctx context.Context, msgs []*bulwark.Message, env *delivery.Env) []delivery.Outcome {
	first := msgs[0]
	links := make([]trace.Link, 0, len(msgs))
	for _, m := range msgs {
		if sc := trace.SpanContextFromContext(telemetry.Extract(context.Background(), m)); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := c.tel.tracer.Start(ctx, "process "+first.Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...),
		trace.WithAttributes(c.tel.client...),
		trace.WithAttributes(
			telemetry.MessagingOperationType.String("process"),
			telemetry.MessagingOperationName.String("process"),
			telemetry.MessagingDestinationName.String(first.Topic),
			telemetry.MessagingDestinationPart.String(strconv.Itoa(int(first.Partition))),
			telemetry.MessagingBatchCount.Int(len(msgs)),
			c.tel.groupAttr,
		))
	defer span.End()
	batch := func(ctx context.Context, batch []*bulwark.Message) error {
		start := time.Now()
		err := c.cfg.batchHandler.HandleBatch(ctx, batch)
		c.tel.handlerHist.Record(ctx, time.Since(start).Seconds(), c.tel.topic(first.Topic).processOpts...)
		return err
	}
	outs := delivery.DeliverBatch(ctx, batch, c.handler, msgs, &c.policy, env)
	for i, out := range outs {
		switch out.Result {
		case delivery.Handled:
			c.counts.addHandled(1)
		case delivery.DeadLettered:
			c.counts.addDeadLettered()
			c.tel.deadCtr.Add(ctx, 1, c.tel.topicAttrs(msgs[i].Topic))
			span.SetStatus(codes.Error, out.Err.Error())
		case delivery.Abandoned:
			span.SetStatus(codes.Error, "abandoned: partition released or consumer stopped")
		}
	}
	return outs
}
