package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/examples/orders/gateway"
	"github.com/bulwarkgo/bulwark/examples/orders/internal/topics"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/producer"
)

// chaos disturbs the pipeline while it works: broker faults (embedded
// cluster only), service crashes and a gateway outage. The invariants must
// hold anyway.
type chaos struct {
	cluster *kafkatest.Cluster // nil on a real cluster: no broker faults
	gateway *gateway.Server
	sups    []*supervisor
	out     io.Writer
	log     *slog.Logger
	brokers []string
	conn    []conn.Option
	reader  *topics.Client
	topics  events.Topics

	duplicates int // reservations delivered twice on purpose

	mu       sync.Mutex
	finished bool
	applied  []string
}

func (c *chaos) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.applied = append(c.applied, msg)
	c.mu.Unlock()
	fmt.Fprintf(c.out, "chaos: %s\n", msg)
}

func (c *chaos) done() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finished
}

func (c *chaos) injectedDuplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.duplicates
}

func (c *chaos) faults() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.applied...)
}

func (c *chaos) sup(name string) *supervisor {
	for _, s := range c.sups {
		if s.name == name {
			return s
		}
	}
	return nil
}

// run plays the script, then returns the system to health.
func (c *chaos) run(ctx context.Context, start time.Time) {
	defer func() {
		c.gateway.SetOutage(false)
		c.gateway.SetLatency(0)
		c.mu.Lock()
		c.finished = true
		c.mu.Unlock()
	}()
	at := func(d time.Duration) bool {
		select {
		case <-time.After(time.Until(start.Add(d))):
			return true
		case <-ctx.Done():
			return false
		}
	}
	var handles []*kafkatest.FaultHandle
	defer func() {
		for _, h := range handles {
			h.Remove()
		}
	}()

	if !at(500 * time.Millisecond) {
		return
	}
	c.gateway.SetLatency(200 * time.Millisecond)
	c.note("gateway slow (200ms per call)")
	if c.cluster != nil {
		handles = append(handles, c.cluster.InjectFault(kafkatest.Fault{
			Requests: []kafkatest.Request{kafkatest.Produce}, Err: kafkatest.NotLeaderOrFollower, Count: 20}))
		c.note("20 produce requests fail with NOT_LEADER_OR_FOLLOWER")
	}

	if !at(time.Second) {
		return
	}
	if s := c.sup("outbox-relay"); s != nil {
		s.crash()
		c.note("outbox relay crashed mid-batch")
	}

	if !at(1500 * time.Millisecond) {
		return
	}
	if s := c.sup("payment"); s != nil {
		s.crash()
		c.note("payment service crashed while charging (connections cut, no commit)")
	}
	if c.cluster != nil {
		c.cluster.ShuffleLeaders()
		c.note("every partition leader moved")
	}

	if !at(2 * time.Second) {
		return
	}
	if n, err := c.redeliver(ctx, 10); err != nil {
		c.log.Warn("chaos: redelivery failed", "error", err)
	} else {
		c.note("%d reservations delivered a second time", n)
	}
	c.gateway.SetLatency(0)
	c.gateway.SetOutage(true)
	c.note("gateway outage begins (503 on every call)")

	if !at(2500 * time.Millisecond) {
		return
	}
	if s := c.sup("inventory"); s != nil {
		s.crash()
		c.note("inventory service crashed mid-transaction")
	}

	if !at(3 * time.Second) {
		return
	}
	if c.cluster != nil {
		handles = append(handles, c.cluster.InjectFault(kafkatest.Fault{
			Requests: []kafkatest.Request{kafkatest.Fetch}, Err: kafkatest.NotLeaderOrFollower, Count: 10}))
		c.note("10 fetch requests fail with NOT_LEADER_OR_FOLLOWER")
	}
	if s := c.sup("shipping"); s != nil {
		s.crash()
		c.note("shipping service crashed")
	}

	if !at(3500 * time.Millisecond) {
		return
	}
	if s := c.sup("saga"); s != nil {
		s.crash()
		c.note("saga service crashed")
	}
	if c.cluster != nil {
		handles = append(handles, c.cluster.InjectFault(kafkatest.Fault{
			Requests: []kafkatest.Request{kafkatest.EndTxn}, Err: kafkatest.ConcurrentTransactions, Count: 3}))
		c.note("3 EndTxn requests fail with CONCURRENT_TRANSACTIONS")
	}

	if !at(5 * time.Second) {
		return
	}
	// The outage lasts until the payment service has run into it (its
	// breaker opens after 5 failed calls in a row), at most 10s more: with
	// the upstream services crashed, reservations may have stopped arriving
	// for a while.
	for end := time.Now().Add(10 * time.Second); c.gateway.Counts().Unavailable < 5 && time.Now().Before(end); {
		if !at(time.Since(start) + 100*time.Millisecond) {
			return
		}
	}
	c.gateway.SetOutage(false)
	c.note("gateway outage ends (%d calls refused)", c.gateway.Counts().Unavailable)
}

// HeaderChaosDuplicate marks the copies redeliver sends, so that the checks
// can tell them from the inventory's own records.
const HeaderChaosDuplicate = "orders-chaos-duplicate"

// redeliver sends copies of the first n reservations (same key, value and
// message ID) to inventory.reserved again, as a producer retry or a
// careless replay would. The payment service's dedup must skip every one.
//
// It waits (bounded) for n reservations to exist: a crashed outbox relay's
// successor holds new orders back for its takeover grace first.
func (c *chaos) redeliver(ctx context.Context, n int) (int, error) {
	var recs []*bulwark.Message
	for attempt := 0; ; attempt++ {
		var err error
		if recs, err = c.reader.Read(ctx, c.topics.Reserved()); err != nil {
			return 0, err
		}
		if len(recs) >= n || attempt == 40 {
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	p, err := producer.New(c.brokers, producer.WithConnection(c.conn...))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	sent := 0
	for _, m := range recs[:min(n, len(recs))] {
		dup := &bulwark.Message{Topic: m.Topic, Key: m.Key, Value: m.Value,
			Headers: append(append([]bulwark.Header(nil), m.Headers...), bulwark.Header{Key: HeaderChaosDuplicate, Value: []byte("1")})}
		if _, err := p.Send(ctx, dup); err != nil {
			return sent, err
		}
		sent++
	}
	c.mu.Lock()
	c.duplicates += sent
	c.mu.Unlock()
	return sent, nil
}
