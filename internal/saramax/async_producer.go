package saramax

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/conn"
)

// Delivery receives the outcome of one record sent through an
// [AsyncProducer]: the partition and offset it was written at, or the error
// that ended its retries.
type Delivery interface {
	Delivered(partition int32, offset int64, err error)
}

// AsyncProducer wraps sarama's AsyncProducer so that its users need no sarama
// types. Records go in with a [Delivery]; one goroutine reads sarama's
// Successes and Errors channels and another calls each record's Delivery
// exactly once, in the order sarama returned them, so synchronous and
// asynchronous sends share one pipeline.
type AsyncProducer struct {
	client sarama.Client
	ap     sarama.AsyncProducer
	done   chan struct{}
}

// NewAsyncProducer connects (sarama fetches metadata and, for an idempotent
// producer, a producer ID, before it returns) and starts the result loop.
func NewAsyncProducer(brokers []string, cfg *sarama.Config) (*AsyncProducer, error) {
	var created atomic.Pointer[AsyncProducer]
	if cfg.Producer.Transaction.ID != "" {
		failFastWhenFatal(cfg, &created)
	}
	// The client is made here, not by sarama.NewAsyncProducer, because that
	// one leaks the client's goroutines when getting a producer ID fails.
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, err
	}
	ap, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	a := &AsyncProducer{client: client, ap: ap, done: make(chan struct{})}
	created.Store(a)
	go a.deliverResults()
	return a, nil
}

// failFastWhenFatal stops a fenced (or otherwise fatally failed)
// transactional producer from spending the whole retry budget on records
// that can never be written: sarama 1.61 keeps retrying a batch whose
// AddPartitionsToTxn failed with PRODUCER_FENCED, each retry after the
// backoff, so with a long delivery timeout the records (and the fencing
// error) would surface only after it. Once the transaction state is fatal,
// the backoff drops to zero and the retries run out at once.
func failFastWhenFatal(cfg *sarama.Config, created *atomic.Pointer[AsyncProducer]) {
	userFunc, backoff := cfg.Producer.Retry.BackoffFunc, cfg.Producer.Retry.Backoff
	cfg.Producer.Retry.BackoffFunc = func(retries, maxRetries int) time.Duration {
		if a := created.Load(); a != nil && a.ap.TxnStatus()&sarama.ProducerTxnFlagFatalError != 0 {
			return 0
		}
		if userFunc != nil {
			return userFunc(retries, maxRetries)
		}
		return backoff
	}
}

func (a *AsyncProducer) deliverResults() {
	// sarama hands results over one at a time, on unbuffered channels,
	// from the goroutine that read the produce response, and builds the
	// next request only once it has handed over the whole batch. So one
	// goroutine only takes them, as fast as sarama offers them, and another
	// reports them: reporting on the spot would hold up the next request by
	// the cost of every callback of the batch.
	results := make(chan result, resultBuffer)
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		for r := range results {
			if d, ok := r.pm.Metadata.(Delivery); ok {
				if r.err != nil {
					d.Delivered(r.pm.Partition, -1, r.err)
				} else {
					d.Delivered(r.pm.Partition, r.pm.Offset, nil)
				}
			}
		}
	}()
	defer close(a.done)
	// Both channels close only after sarama's shutdown has finished with
	// every record, so the client can go then.
	defer func() { _ = a.client.Close() }()
	defer func() { close(results); <-reported }()
	successes, failures := a.ap.Successes(), a.ap.Errors()
	for successes != nil || failures != nil {
		select {
		case pm, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			results <- result{pm: pm}
		case pe, ok := <-failures:
			if !ok {
				failures = nil
				continue
			}
			results <- result{pm: pe.Msg, err: pe.Err}
		}
	}
}

// result is one record's outcome on its way to being reported.
type result struct {
	pm  *sarama.ProducerMessage
	err error
}

// resultBuffer is how many results may wait to be reported: a few produce
// responses' worth.
const resultBuffer = 4096

// messageIDKey is shared by every record: sarama only reads header keys.
var messageIDKey = []byte(bulwark.HeaderMessageID)

// Outgoing is the sarama form of one record. Callers embed it in their own
// per-record state, so that a record costs one allocation instead of one
// each for the message, its key and value encoders and its headers.
type Outgoing struct {
	pm         sarama.ProducerMessage
	key, value sarama.ByteEncoder
	headers    [2]sarama.RecordHeader // the message ID and a traceparent fit
}

// Enqueue fills o from msg, with the added headers after msg's own, and
// hands it to sarama. It returns once sarama has accepted the record (d is
// then called exactly once, later), or with ctx's error, or
// bulwark.ErrClosed when stop closes first (d is then never called). msg's
// key, value and header bytes are shared with sarama until d is called; msg
// itself is not modified. o must stay untouched until d is called.
func (a *AsyncProducer) Enqueue(ctx context.Context, stop <-chan struct{}, o *Outgoing, msg *bulwark.Message, added []bulwark.Header, d Delivery) error {
	return a.EnqueueWithin(ctx, stop, nil, o, msg, added, d)
}

// ErrEnqueueTimeout: sarama took no record before EnqueueWithin's deadline
// (its buffers stayed full).
var ErrEnqueueTimeout = errors.New("saramax: the producer took no record within the bound")

// Deadline bounds EnqueueWithin's wait for room in sarama without a timer
// per record: a timer costs more than the rest of a hand-off, and a
// producer at full speed waits for room on most records.
type Deadline interface {
	// Waiting says a wait starts (true) or ends (false), so whatever
	// drives the deadline's clock keeps it running meanwhile.
	Waiting(bool)
	// Expired reports whether the deadline has passed; if not, recheck
	// closes when it is worth asking again.
	Expired() (passed bool, recheck <-chan struct{})
}

// EnqueueWithin is [AsyncProducer.Enqueue] that also gives up, with
// [ErrEnqueueTimeout], once dl has expired (nil: no bound).
func (a *AsyncProducer) EnqueueWithin(ctx context.Context, stop <-chan struct{}, dl Deadline, o *Outgoing, msg *bulwark.Message, added []bulwark.Header, d Delivery) error {
	pm := &o.pm
	pm.Topic = msg.Topic
	pm.Partition = msg.Partition
	pm.Timestamp = msg.Timestamp
	pm.Metadata = d
	// Pointers to the encoders stored in o: an interface holding a pointer
	// needs no allocation, one holding a slice does.
	if msg.Key != nil {
		o.key = msg.Key
		pm.Key = &o.key
	}
	if msg.Value != nil {
		o.value = msg.Value
		pm.Value = &o.value
	}
	if n := len(msg.Headers) + len(added); n > 0 {
		if n <= len(o.headers) {
			pm.Headers = o.headers[:0]
		} else {
			pm.Headers = make([]sarama.RecordHeader, 0, n)
		}
		for _, h := range msg.Headers {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		for _, h := range added {
			key := messageIDKey
			if h.Key != bulwark.HeaderMessageID {
				key = []byte(h.Key)
			}
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: key, Value: h.Value})
		}
	}
	// Fast path: sarama's dispatcher is usually waiting for input, and a
	// plain send is cheaper than a select.
	select {
	case a.ap.Input() <- pm:
		return nil
	default:
	}
	if dl != nil {
		dl.Waiting(true)
		defer dl.Waiting(false)
	}
	for {
		var recheck <-chan struct{} // nil without a deadline: never ready
		if dl != nil {
			var passed bool
			if passed, recheck = dl.Expired(); passed {
				return ErrEnqueueTimeout
			}
		}
		select {
		case a.ap.Input() <- pm:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return bulwark.ErrClosed
		case <-recheck:
		}
	}
}

// AsyncClose starts sarama's shutdown: records already accepted are still
// delivered (or failed) and reported; [AsyncProducer.Done] closes after the
// last one. Enqueue must not be called once AsyncClose has been.
func (a *AsyncProducer) AsyncClose() { a.ap.AsyncClose() }

// Done is closed when the result loop has reported every record and sarama
// has shut down.
func (a *AsyncProducer) Done() <-chan struct{} { return a.done }

// BeginTxn starts a transaction (transactional producers only).
func (a *AsyncProducer) BeginTxn() error { return a.ap.BeginTxn() }

// CommitTxn waits for the transaction's records, then commits it.
func (a *AsyncProducer) CommitTxn() error { return a.ap.CommitTxn() }

// AbortTxn waits for the transaction's records, then aborts it.
func (a *AsyncProducer) AbortTxn() error { return a.ap.AbortTxn() }

// ClassifyTxn says what a failed transactional call left behind; see
// [ClassifyTxn].
func (a *AsyncProducer) ClassifyTxn(err error) TxnFailure { return ClassifyTxn(a.ap, err) }

// TxnUsable reports whether a new transaction may begin: the producer is in
// neither a fatal nor an unresolved abortable error state.
func (a *AsyncProducer) TxnUsable() bool {
	return a.ap.TxnStatus()&(sarama.ProducerTxnFlagFatalError|sarama.ProducerTxnFlagInError) == 0
}

// ConnectAsyncProducer is [NewAsyncProducer] bounded by ctx and
// s.ConnectTimeout, with its errors explained ([Connect]).
func ConnectAsyncProducer(ctx context.Context, brokers []string, cfg *sarama.Config, s conn.Settings) (*AsyncProducer, error) {
	return Connect(ctx, brokers, cfg, s, func(cut *sarama.Config) (*AsyncProducer, error) {
		return NewAsyncProducer(brokers, cut)
	}, func(ap *AsyncProducer) { ap.AsyncClose(); <-ap.Done() })
}
