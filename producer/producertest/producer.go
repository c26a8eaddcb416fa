package producertest

import (
	"context"
	"sync"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/producer"
	"github.com/google/uuid"
)

// log is the partitioned record log the fakes write to: it assigns offsets
// per topic and partition the way a broker does.
type log struct {
	next map[string]map[int32]int64
}

func (l *log) append(msg *bulwark.Message) (*bulwark.Message, producer.Result) {
	if l.next == nil {
		l.next = map[string]map[int32]int64{}
	}
	if l.next[msg.Topic] == nil {
		l.next[msg.Topic] = map[int32]int64{}
	}
	rec := msg.Clone()
	rec.Offset = l.next[msg.Topic][msg.Partition]
	l.next[msg.Topic][msg.Partition]++
	// As the real producer does: every record has a message ID.
	if _, ok := rec.Header(bulwark.HeaderMessageID); !ok {
		rec.Headers = append(rec.Headers, bulwark.Header{Key: bulwark.HeaderMessageID, Value: []byte(uuid.NewString())})
	}
	return rec, producer.Result{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}
}

// failures decides which sends fail.
type failures struct {
	queue []error
	when  func(*bulwark.Message) error
}

func (f *failures) next(msg *bulwark.Message) error {
	if len(f.queue) > 0 {
		err := f.queue[0]
		f.queue = f.queue[1:]
		return err
	}
	if f.when != nil {
		return f.when(msg)
	}
	return nil
}

// Producer is a recording fake of *producer.Producer. Records are "written"
// to the partition set in Message.Partition (0 unless set), with offsets
// counting from 0 per partition, and get a message-ID header when they have
// none. It is safe for concurrent use.
type Producer struct {
	mu     sync.Mutex
	log    log
	sent   []*bulwark.Message
	failed []*bulwark.Message
	fail   failures
	closed bool
}

// New returns an empty fake producer.
func New() *Producer { return &Producer{} }

var _ producer.Sender = (*Producer)(nil)

// Send records msg and returns where it was "written", or the error the
// fake was told to fail with (the record is then not recorded as sent).
// After Close it fails with bulwark.ErrClosed.
func (p *Producer) Send(ctx context.Context, msg *bulwark.Message) (producer.Result, error) {
	if err := ctx.Err(); err != nil {
		return producer.Result{}, err
	}
	if msg == nil || msg.Topic == "" {
		return producer.Result{}, bulwark.Permanent(producer.ErrInvalidRecord)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return producer.Result{}, bulwark.ErrClosed
	}
	if err := p.fail.next(msg); err != nil {
		p.failed = append(p.failed, msg.Clone())
		return producer.Result{Topic: msg.Topic, Partition: -1, Offset: -1}, err
	}
	rec, res := p.log.append(msg)
	p.sent = append(p.sent, rec)
	return res, nil
}

// SendAsync is Send with the outcome passed to done, which is called
// exactly once before SendAsync returns.
func (p *Producer) SendAsync(ctx context.Context, msg *bulwark.Message, done func(producer.Result, error)) {
	res, err := p.Send(ctx, msg)
	if done != nil {
		done(res, err)
	}
}

// Flush returns at once (every send completes before it returns), or ctx's
// error.
func (p *Producer) Flush(ctx context.Context) error { return ctx.Err() }

// Close makes later sends fail with bulwark.ErrClosed. It is idempotent.
func (p *Producer) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

// Sent returns copies of the records sent successfully, in order, with
// partition, offset and message ID filled in.
func (p *Producer) Sent() []*bulwark.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return cloneAll(p.sent)
}

// Failed returns copies of the records whose send failed, in order.
func (p *Producer) Failed() []*bulwark.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return cloneAll(p.failed)
}

// FailNext makes the next n sends fail with err.
func (p *Producer) FailNext(n int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.fail.queue = append(p.fail.queue, err)
	}
}

// FailWhen makes every send for which fn returns an error fail with it
// (after any FailNext errors are used up). nil removes the rule.
func (p *Producer) FailWhen(fn func(*bulwark.Message) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail.when = fn
}

// Closed reports whether Close was called.
func (p *Producer) Closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func cloneAll(msgs []*bulwark.Message) []*bulwark.Message {
	out := make([]*bulwark.Message, len(msgs))
	for i, m := range msgs {
		out[i] = m.Clone()
	}
	return out
}
