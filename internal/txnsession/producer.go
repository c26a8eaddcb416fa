package txnsession

import (
	"sync"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Failure says what a failed transactional call left behind.
type Failure int

const (
	// Abortable: abort the transaction; the producer stays usable.
	Abortable Failure = iota
	// GroupFenced: the group generation in the offsets is stale (KIP-447):
	// this member no longer owns the partitions. Abort and rejoin.
	GroupFenced
	// Fenced: another producer took the transactional ID. Close this one.
	Fenced
	// Fatal: the producer is unusable for another reason. Close it.
	Fatal
)

func (f Failure) String() string {
	switch f {
	case GroupFenced:
		return "group-fenced"
	case Fenced:
		return "fenced"
	case Fatal:
		return "fatal"
	default:
		return "abortable"
	}
}

// Producer is one transactional producer (one per session instance).
// Its methods are called from one goroutine at a time.
type Producer struct {
	ap sarama.AsyncProducer

	mu       sync.Mutex
	inFlight int        // records sent and not yet settled
	settled  *sync.Cond // signalled when inFlight reaches zero
}

// NewProducer connects and initialises the transactional ID; doing so
// fences any older producer with the same ID and aborts its open
// transaction.
func NewProducer(brokers []string, cfg *sarama.Config) (*Producer, error) {
	// Counted in drain; forced in case a sarama hook turned them off.
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	ap, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		return nil, err
	}
	p := &Producer{ap: ap}
	p.settled = sync.NewCond(&p.mu)
	go p.drain()
	return p, nil
}

// drain counts settled records until the producer closes.
func (p *Producer) drain() {
	successes, errs := p.ap.Successes(), p.ap.Errors()
	for successes != nil || errs != nil {
		select {
		case _, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
		}
		p.mu.Lock()
		if p.inFlight--; p.inFlight == 0 {
			p.settled.Broadcast()
		}
		p.mu.Unlock()
	}
}

// Begin starts a transaction.
func (p *Producer) Begin() error { return p.ap.BeginTxn() }

// Send hands msg to the producer inside the open transaction. The key is
// hashed with murmur2; msg.Partition is ignored. A record that fails puts
// the transaction in an error state: see [Producer.InError].
func (p *Producer) Send(msg *bulwark.Message) {
	pm := saramax.ToProducerMessage(msg)
	pm.Partition = 0
	p.mu.Lock()
	p.inFlight++
	p.mu.Unlock()
	p.ap.Input() <- pm
}

// InError reports whether the open transaction can no longer commit.
func (p *Producer) InError() bool {
	return p.ap.TxnStatus()&sarama.ProducerTxnFlagInError != 0
}

// Err returns why the open transaction can no longer commit, or nil.
func (p *Producer) Err() error {
	if !p.InError() {
		return nil
	}
	// With the transaction in error, CommitTxn sends nothing and changes
	// nothing: it returns the error that put the transaction there.
	return p.ap.CommitTxn()
}

// Commit adds the consumed offsets (next offset to read, per partition)
// with the group metadata, then commits: TxnOffsetCommit and EndTxn are
// sent by sarama here, after the records are flushed.
func (p *Producer) Commit(offsets map[TopicPartition]int64, meta GroupMeta) error {
	if err := p.Err(); err != nil {
		return err
	}
	byTopic := make(map[string][]*sarama.PartitionOffsetMetadata, 1)
	for tp, off := range offsets {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], &sarama.PartitionOffsetMetadata{Partition: tp.Partition, Offset: off, LeaderEpoch: -1})
	}
	if err := p.ap.AddOffsetsToTxnWithGroupMetadata(byTopic, meta.m); err != nil {
		return err
	}
	return p.ap.CommitTxn()
}

// Abort aborts the open transaction once every record sent has settled.
// sarama's AbortTxn waits for them too, but only after moving the
// transaction to aborting, which races with its broker goroutines still
// adding partitions for those records (IBM/sarama#2913); waiting first
// leaves those goroutines idle. Records settle within the producer's
// retries and timeouts.
func (p *Producer) Abort() error {
	p.mu.Lock()
	for p.inFlight > 0 {
		p.settled.Wait()
	}
	p.mu.Unlock()
	return p.ap.AbortTxn()
}

// OutcomeUnknown reports whether the last Commit failed after EndTxn may
// have reached the coordinator: sarama then leaves the status at
// committing without an error flag.
func (p *Producer) OutcomeUnknown() bool {
	st := p.ap.TxnStatus()
	return st&sarama.ProducerTxnFlagCommittingTransaction != 0 && st&sarama.ProducerTxnFlagInError == 0
}

// Classify says what err, returned by Commit or Abort, means.
func (p *Producer) Classify(err error) Failure {
	// The producer package's classification, so an authorization failure
	// is fatal here too and never reported as another instance's takeover.
	switch saramax.ClassifyTxn(p.ap, err) {
	case saramax.TxnFenced:
		return Fenced
	case saramax.TxnFatal:
		return Fatal
	}
	if saramax.IsGroupFencing(err) {
		return GroupFenced
	}
	return Abortable
}

// Close shuts the producer down.
func (p *Producer) Close() error { return p.ap.Close() }
