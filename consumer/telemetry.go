package consumer

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/consumer/internal/delivery"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const scope = telemetry.Scope + "/consumer"

// counts are the running totals reported by Stats.
type counts struct {
	consumed, handled, failed, retried, deadLettered, paused atomic.Int64
	commits, commitFailures                                  atomic.Int64
	lastCommitNanos, maxCommitNanos                          atomic.Int64
}

type instruments struct {
	c            *Consumer
	tracer       trace.Tracer
	consumedCtr  metric.Int64Counter
	failedCtr    metric.Int64Counter
	pausedCtr    metric.Int64Counter
	retriedCtr   metric.Int64Counter
	deadCtr      metric.Int64Counter
	handlerHist  metric.Float64Histogram
	commitHist   metric.Float64Histogram
	registration metric.Registration
	groupAttr    attribute.KeyValue
	// byTopic caches the measurement option of each topic: building an
	// attribute set per record costs allocations on the hot path.
	byTopic sync.Map // string -> metric.MeasurementOption
}

func newTelemetry(c *Consumer, tp trace.TracerProvider, mp metric.MeterProvider) (*instruments, error) {
	t := &instruments{c: c, tracer: telemetry.TracerProvider(tp).Tracer(scope),
		groupAttr: telemetry.MessagingConsumerGroupName.String(c.group)}
	m := telemetry.MeterProvider(mp).Meter(scope)
	var err error
	must := func(e error) {
		if err == nil {
			err = e
		}
	}
	var e error
	t.consumedCtr, e = m.Int64Counter("bulwark.consumer.records.consumed", metric.WithDescription("Records taken from Kafka."))
	must(e)
	t.failedCtr, e = m.Int64Counter("bulwark.consumer.records.failed", metric.WithDescription("Handler calls that returned an error other than a pause-class one."))
	must(e)
	t.pausedCtr, e = m.Int64Counter("bulwark.consumer.records.paused", metric.WithDescription("Handler calls that returned a pause-class error."))
	must(e)
	t.retriedCtr, e = m.Int64Counter("bulwark.consumer.records.retried", metric.WithDescription("In-place retries."))
	must(e)
	t.deadCtr, e = m.Int64Counter("bulwark.consumer.records.dead_lettered", metric.WithDescription("Records written to a dead-letter topic."))
	must(e)
	t.handlerHist, e = m.Float64Histogram("bulwark.consumer.handler.duration", metric.WithUnit("s"), metric.WithDescription("Duration of one handler call."))
	must(e)
	t.commitHist, e = m.Float64Histogram("bulwark.consumer.commit.duration", metric.WithUnit("s"), metric.WithDescription("Duration of one offset commit request."))
	must(e)
	inFlight, e := m.Int64ObservableGauge("bulwark.consumer.in_flight", metric.WithDescription("Records taken from Kafka and not finished."))
	must(e)
	lag, e := m.Int64ObservableGauge("bulwark.consumer.lag", metric.WithDescription("High watermark minus next offset, per partition."))
	must(e)
	if err != nil {
		return nil, err
	}
	t.registration, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := c.Stats()
		o.ObserveInt64(inFlight, int64(st.InFlightRecords), metric.WithAttributes(t.groupAttr))
		for _, p := range st.Partitions {
			if p.Lag >= 0 {
				o.ObserveInt64(lag, p.Lag, metric.WithAttributes(t.groupAttr,
					telemetry.MessagingDestinationName.String(p.Topic),
					telemetry.MessagingDestinationPart.String(strconv.Itoa(int(p.Partition)))))
			}
		}
		return nil
	}, inFlight, lag)
	return t, err
}

func (t *instruments) close() {
	if t.registration != nil {
		_ = t.registration.Unregister()
	}
}

func (t *instruments) topicAttrs(topic string) metric.MeasurementOption {
	if o, ok := t.byTopic.Load(topic); ok {
		return o.(metric.MeasurementOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(t.groupAttr, telemetry.MessagingDestinationName.String(topic)))
	t.byTopic.Store(topic, o)
	return o
}

func (t *instruments) consumed(msg *bulwark.Message) {
	t.c.counts.consumed.Add(1)
	t.consumedCtr.Add(context.Background(), 1, t.topicAttrs(msg.Topic))
}

func (t *instruments) commitDone(d time.Duration, err error) {
	t.c.counts.commits.Add(1)
	if err != nil {
		t.c.counts.commitFailures.Add(1)
	}
	n := int64(d)
	t.c.counts.lastCommitNanos.Store(n)
	for {
		m := t.c.counts.maxCommitNanos.Load()
		if n <= m || t.c.counts.maxCommitNanos.CompareAndSwap(m, n) {
			break
		}
	}
	t.commitHist.Record(context.Background(), d.Seconds(), metric.WithAttributes(t.groupAttr))
}

// timed measures each handler call.
func (t *instruments) timed(h bulwark.Handler) bulwark.Handler {
	return bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		start := time.Now()
		err := h.Handle(ctx, msg)
		t.handlerHist.Record(ctx, time.Since(start).Seconds(), t.topicAttrs(msg.Topic))
		return err
	})
}

// deliver handles one record inside a consumer span that continues the
// producer's trace found in the headers.
func (c *Consumer) deliver(ctx context.Context, msg *bulwark.Message, env delivery.Env) delivery.Outcome {
	ctx = telemetry.Extract(ctx, msg)
	ctx, span := c.tel.tracer.Start(ctx, "process "+msg.Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			telemetry.SystemKafka,
			telemetry.MessagingOperationType.String("process"),
			telemetry.MessagingOperationName.String("process"),
			telemetry.MessagingDestinationName.String(msg.Topic),
			telemetry.MessagingDestinationPart.String(strconv.Itoa(int(msg.Partition))),
			telemetry.MessagingKafkaOffset.Int64(msg.Offset),
			c.tel.groupAttr,
		))
	if id := msg.MessageID(); id != "" {
		span.SetAttributes(telemetry.MessagingMessageID.String(id))
	}
	out := delivery.Deliver(ctx, c.handler, msg, c.policy, env)
	switch out.Result {
	case delivery.Handled:
		c.counts.handled.Add(1)
	case delivery.DeadLettered:
		c.counts.deadLettered.Add(1)
		c.tel.deadCtr.Add(ctx, 1, c.tel.topicAttrs(msg.Topic))
		span.SetStatus(codes.Error, out.Err.Error())
		span.SetAttributes(telemetry.ErrorType.String(bulwark.ClassOf(out.Err).String()))
	case delivery.Abandoned:
		span.SetStatus(codes.Error, "abandoned: partition released or consumer stopped")
	}
	span.End()
	return out
}

// envFor connects deliveries of r's records to the consumer.
func (c *Consumer) envFor(r *partitionRunner) delivery.Env {
	return delivery.Env{
		Sleep:      sleep,
		DeadLetter: c.dlt.write,
		OnFailure: func(msg *bulwark.Message, err error) {
			// A pause-class return is not a failure of the record: it says
			// a dependency is down and the record waits for it.
			if bulwark.ClassOf(err) == bulwark.ClassPause {
				c.counts.paused.Add(1)
				c.tel.pausedCtr.Add(context.Background(), 1, c.tel.topicAttrs(msg.Topic))
				return
			}
			c.counts.failed.Add(1)
			c.tel.failedCtr.Add(context.Background(), 1, metric.WithAttributes(c.tel.groupAttr,
				telemetry.MessagingDestinationName.String(msg.Topic),
				telemetry.ErrorType.String(bulwark.ClassOf(err).String())))
		},
		OnRetry: func(msg *bulwark.Message, err error, d time.Duration) {
			c.counts.retried.Add(1)
			c.tel.retriedCtr.Add(context.Background(), 1, c.tel.topicAttrs(msg.Topic))
			c.log.Debug("retrying record", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "attempt", msg.Attempt, "delay", d, "err", err)
		},
		OnPause: func(msg *bulwark.Message, err error, d time.Duration) {
			c.log.Info("partition paused by handler", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "delay", d, "err", err)
			r.pauseBegin()
		},
		OnResume: func(msg *bulwark.Message) {
			c.log.Info("partition resumed", "topic", msg.Topic, "partition", msg.Partition)
			r.pauseEnd()
		},
		OnDeadLetterError: func(msg *bulwark.Message, err error) {
			c.log.Warn("writing dead letter failed; record stays uncommitted and is retried", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "err", err)
		},
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
