package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/bulwarkgo/bulwark/resilience"
	"go.opentelemetry.io/otel/attribute"
)

// Retry and a breaker around a real producer's Send: while the cluster
// fails every produce request the breaker opens and later sends are
// rejected without a produce request; once the cluster heals the breaker
// lets a probe through, closes, and every record, each retried until sent,
// is in the topic exactly once.
func TestPoliciesAroundProducerSend(t *testing.T) {
	const topic = "guarded"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 1))
	p, err := producer.New(c.Brokers(), producer.WithDeliveryTimeout(400*time.Millisecond), producer.WithRetryBackoff(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m := newMetrics(t)
	named := []resilience.Option{resilience.WithName("kafka"), resilience.WithMeterProvider(m.provider)}
	retry, err := resilience.NewRetry(named[0], named[1], resilience.WithMaxAttempts(3), resilience.WithBackoff(10*time.Millisecond, 50*time.Millisecond, 2))
	if err != nil {
		t.Fatal(err)
	}
	breaker, err := resilience.NewBreaker(named[0], named[1], resilience.WithConsecutiveFailures(2), resilience.WithOpenDelay(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer breaker.Close()

	record := func(i int) *bulwark.Message {
		return &bulwark.Message{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("record %d", i))}
	}
	send := func(i int) error {
		return resilience.Do(ctx, func(ctx context.Context) error {
			_, err := p.Send(ctx, record(i))
			return err
		}, retry, breaker)
	}
	if err := send(0); err != nil {
		t.Fatalf("send on a healthy cluster: %v", err)
	}

	// An error sarama does not retry, so each failed Send is final: with a
	// retriable one (NotEnoughReplicas) sarama retries for about the
	// delivery timeout, and on a loaded machine the producer's expiry could
	// fail a record whose last retry then landed once the cluster healed (a
	// duplicate the producer's ErrDeliveryTimeout warns of: "may still be
	// written").
	fault := c.InjectFault(kafkatest.Fault{Requests: []kafkatest.Request{kafkatest.Produce}, Topic: topic,
		Err: kafkatest.UnknownServerError, Count: -1})
	// Two failed attempts open the breaker; the retry's third attempt is
	// rejected by it, with the pause class, and not retried.
	err = send(1)
	if !errors.Is(err, resilience.ErrBreakerOpen) || bulwark.ClassOf(err) != bulwark.ClassPause {
		t.Fatalf("send while produce fails: %v (class %v), want the breaker open (pause)", err, bulwark.ClassOf(err))
	}
	if s := breaker.State(); s != resilience.BreakerOpen {
		t.Fatalf("breaker %v after the failures, want open", s)
	}
	if fault.Hits() == 0 {
		t.Fatal("no produce request failed: the fault did not apply")
	}
	// The records the failed attempts handed to the producer have settled
	// (failed) before the cluster heals, so none can land late.
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	hits := fault.Hits()
	start := time.Now()
	if err := send(2); !errors.Is(err, resilience.ErrBreakerOpen) {
		t.Fatalf("send while open: %v, want rejected by the breaker", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("a rejected send took %v", d)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := fault.Hits(); n != hits {
		t.Errorf("%d produce requests while the breaker was open, want none", n-hits)
	}

	fault.Remove()
	// The caller keeps each record until it is sent, waiting out the
	// breaker's delay when rejected.
	for i := 1; i <= 5; i++ {
		for {
			err := send(i)
			if err == nil {
				break
			}
			if !errors.Is(err, resilience.ErrBreakerOpen) {
				t.Fatalf("record %d after the cluster healed: %v", i, err)
			}
			select {
			case <-time.After(breaker.RemainingDelay() + 10*time.Millisecond):
			case <-ctx.Done():
				t.Fatalf("record %d: breaker never let a probe through", i)
			}
		}
	}
	if s := breaker.State(); s != resilience.BreakerClosed {
		t.Errorf("breaker %v after successful sends, want closed", s)
	}

	recs, err := c.ReadTopic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		seen[string(r.Value)]++
	}
	for i := 0; i <= 5; i++ {
		if n := seen[fmt.Sprintf("record %d", i)]; n != 1 {
			t.Errorf("record %d is in the topic %d times, want once", i, n)
		}
	}
	if len(recs) != 6 {
		t.Errorf("%d records in the topic, want 6: %v", len(recs), seen)
	}

	state := func(s string) attribute.KeyValue { return attribute.String("bulwark.resilience.breaker.state", s) }
	for _, s := range []string{"open", "half-open", "closed"} {
		if n, _ := m.value(t, resilience.MetricTransitions, attribute.String("bulwark.resilience.name", "kafka"), state(s)); n < 1 {
			t.Errorf("no breaker transition to %s recorded", s)
		}
	}
	if n, _ := m.value(t, resilience.MetricRetries, attribute.String("bulwark.resilience.name", "kafka")); n < 1 {
		t.Error("no retry recorded")
	}
}
