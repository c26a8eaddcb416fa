package produce

// KIP-360 for the idempotent engine: when a partition's sequence state is
// lost, the engine takes a new producer identity and every partition
// starts again at sequence 0 under it, as Kafka's Java client and franz-go
// do. The router goroutine (router.go) runs the InitProducerID call; the
// senders only ask for it (requestBumpLocked) and wait for it.
//
// What loses the state, and what becomes of the batch concerned:
//   - OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH:
//     the broker rejected the batch, so it was not written, and it is sent
//     again under the new identity from sequence 0. An earlier send of the
//     same batch (one whose answer was lost) was not written either: the
//     batch is its partition's only one in flight, so it is the producer's
//     latest there, which the broker would have recognised as a duplicate.
//   - a sent batch whose delivery timeout passes unanswered, or a retry
//     rejected for good after an answer that was lost or inconclusive: it
//     may or may not have been written, so it fails with ErrMaybeWritten
//     and is never sent again, and its sequences are not given back; the
//     partition goes on under the new identity, where no later batch can
//     be taken for a duplicate of it.
//
// Which batches move to the new identity: a partition switches only
// between batches (partition.sealNext), and a batch that was sent and
// whose outcome is unknown keeps the identity and sequence it was sent
// with until it is answered, since only under them can the broker tell a
// retry from new data; the brokers keep that identity's state. Every other
// batch, and every later one, takes the new identity, the first from
// sequence 0. No batch is reordered or failed by the bump itself, and a
// record not yet sent is never failed by it.
//
// Draining: the bump needs no global drain. The batch that lost the state
// is answered (or expired, which needs no request in flight) before its
// partition asks for the bump, and each other partition switches only once
// its own request in flight is answered. While a bump is wanted no batch
// takes a sequence, so none is spent under the identity being replaced.
//
// InitProducerID: v3 and later (Kafka 2.5+) carry the current producer ID
// and epoch, which a transactional producer needs for its epoch to be
// bumped; for a producer without a transactional ID, Kafka (and kfake)
// answers with a new producer ID at epoch 0, as older brokers always do.
// Either answer is a new identity, which is all the engine relies on.

import (
	"errors"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/backoff"
)

// maxBumpBackoff caps the growing pause between failed InitProducerID
// calls, so that a cluster refusing them for long is not asked too often.
const maxBumpBackoff = 5 * time.Second

// identity is a producer ID and epoch: the pair under which a partition's
// sequence numbers count.
type identity struct {
	pid   int64
	epoch int16
}

func (b *batch) identity() identity {
	return identity{pid: b.rb.ProducerID, epoch: b.rb.ProducerEpoch}
}

// requestBumpLocked asks for a new identity because the sequence state
// under from is lost; asking for one that is already replaced is a no-op.
func (e *Engine) requestBumpLocked(from identity, cause error) {
	if from != e.identityLocked() || e.bumpWanted {
		return
	}
	e.bumpWanted = true
	e.log.Warn("produce: idempotent sequence state lost, taking a new producer epoch",
		"producer_id", from.pid, "epoch", from.epoch, "error", cause)
	select {
	case e.routeWake <- struct{}{}:
	default:
	}
}

// failPartitionLocked is what a transactional engine does where the
// idempotent one takes a new epoch: it cannot in the middle of a
// transaction, so p's records fail, which makes the transaction
// abortable, p refuses records until Abort renews the epoch with the
// transactional ID (txn.go's renewEpochIfLost), and the other partitions
// go on. The idempotent engine keeps p's batches: out comes back as is.
func (e *Engine) failPartitionLocked(p *partition, cause error, out []*batch) []*batch {
	if e.txn == nil {
		return out
	}
	p.lost = &sequenceLostError{topic: p.topic, partition: p.id, cause: cause}
	e.bumpWanted = true
	for len(p.queue) > 0 {
		b := p.pop()
		b.err = p.lost
		out = append(out, b)
	}
	return out
}

// bumpIfWanted runs a wanted bump; it is called on the router goroutine.
// After a failed attempt it returns when to try again. A transactional
// engine's bump is Abort's (txn.go).
func (e *Engine) bumpIfWanted(now time.Time) time.Time {
	e.mu.Lock()
	if !e.bumpWanted || e.txn != nil {
		e.mu.Unlock()
		return time.Time{}
	}
	if now.Before(e.bumpAt) {
		at := e.bumpAt
		e.mu.Unlock()
		return at
	}
	cur := e.identityLocked()
	e.mu.Unlock()

	next, err := e.initProducerID(cur)

	e.mu.Lock()
	if err == nil && next == cur {
		err = errors.New("the broker answered with the same producer ID and epoch")
	}
	if err != nil {
		// Records wait meanwhile; the delivery timeout bounds them.
		e.bumpTries++
		wait := backoff.Pause(e.o.retryBackoff, maxBumpBackoff, e.bumpTries)
		e.log.Warn("produce: new producer epoch failed, retrying", "producer_id", cur.pid, "epoch", cur.epoch, "in", wait, "error", err)
		e.bumpAt = time.Now().Add(wait)
		at := e.bumpAt
		e.mu.Unlock()
		return at
	}
	e.pid, e.epoch = next.pid, next.epoch
	e.bumpWanted = false
	e.bumpTries = 0
	senders := e.senderListLocked()
	e.mu.Unlock()
	e.log.Info("produce: new producer epoch", "producer_id", next.pid, "epoch", next.epoch,
		"old_producer_id", cur.pid, "old_epoch", cur.epoch)
	for _, s := range senders {
		s.poke()
	}
	return time.Time{}
}

// initProducerID asks any broker for the identity that replaces cur.
func (e *Engine) initProducerID(cur identity) (identity, error) {
	b := e.client.LeastLoadedBroker()
	if b == nil {
		return identity{}, sarama.ErrOutOfBrokers
	}
	req := &sarama.InitProducerIDRequest{Version: initProducerIDVersion(e.client.Config().Version)}
	if req.Version >= 3 {
		req.ProducerID, req.ProducerEpoch = cur.pid, cur.epoch
	}
	resp, err := b.InitProducerID(req)
	if err != nil {
		// Close it so that the next attempt reconnects.
		_ = b.Close()
		return identity{}, err
	}
	if !errors.Is(resp.Err, sarama.ErrNoError) {
		return identity{}, resp.Err
	}
	return identity{pid: resp.ProducerID, epoch: resp.ProducerEpoch}, nil
}

// initProducerIDVersion is the newest InitProducerID version v supports
// that sarama encodes.
func initProducerIDVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V2_7_0_0):
		return 4
	case v.IsAtLeast(sarama.V2_5_0_0):
		return 3
	case v.IsAtLeast(sarama.V2_4_0_0):
		return 2
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 1
	default:
		return 0
	}
}
