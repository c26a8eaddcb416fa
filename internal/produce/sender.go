package produce

// Goroutines: each sender runs on its own goroutine, started by the router
// (senderLocked) the first time a partition is routed to its broker and
// stopped by Close (e.stop, also while it waits for a response);
// Close waits for it. The sender owns inReq. sarama calls onResponse on the
// broker's response-reader goroutine; it only hands the response over on
// done (buffered, one request in flight), so it never blocks that reader
// and never calls the broker, as AsyncProduce requires.

import (
	"errors"
	"slices"
	"time"

	"github.com/IBM/sarama"
)

type sender struct {
	e      *Engine
	id     int32
	broker *sarama.Broker // guarded by e.mu; the router refreshes it
	parts  []*partition   // partitions led by the broker; guarded by e.mu

	wake  chan struct{}
	done  chan produceResult
	onRes sarama.ProduceCallback
	inReq []*batch
}

type produceResult struct {
	resp *sarama.ProduceResponse
	err  error
}

func newSender(e *Engine, id int32) *sender {
	s := &sender{e: e, id: id, wake: make(chan struct{}, 1), done: make(chan produceResult, 1)}
	s.onRes = func(resp *sarama.ProduceResponse, err error) { s.done <- produceResult{resp, err} }
	return s
}

// poke wakes the sender; it never blocks.
func (s *sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sender) addLocked(p *partition) { s.parts = append(s.parts, p) }

func (s *sender) removeLocked(p *partition) {
	if i := slices.Index(s.parts, p); i >= 0 {
		s.parts = slices.Delete(s.parts, i, i+1)
	}
}

func (s *sender) run() {
	defer s.e.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-s.e.stop:
			return
		case <-s.wake:
		case <-timer.C:
		}
		for {
			next, sent, stopped := s.sendOnce()
			if stopped {
				return
			}
			if !sent {
				if !next.IsZero() {
					resetTimer(timer, time.Until(next))
				}
				break
			}
		}
	}
}

// sendOnce sends one request with the ready batches of its partitions and
// handles the response. With nothing ready it returns when to look again.
func (s *sender) sendOnce() (next time.Time, sent, stopped bool) {
	e := s.e
	now := time.Now()
	var expired []*batch
	e.mu.Lock()
	flushing := e.flushing > 0
	broker := s.broker
	s.inReq = s.inReq[:0]
	for _, p := range s.parts {
		expired = e.expireLocked(p, now, expired)
		ok, at := p.ready(now, &e.o, flushing)
		if !ok {
			if !at.IsZero() {
				next = earliest(next, at)
			}
			continue
		}
		b := p.queue[0]
		if !b.sealed {
			b.seal(e.pid, e.epoch, p.nextSeq)
			b.rb.IsTransactional = e.txn != nil
			p.nextSeq = addSeq(p.nextSeq, len(b.recs))
		}
		p.inflight = true
		s.inReq = append(s.inReq, b)
	}
	e.mu.Unlock()
	e.results.push(expired...)
	if len(s.inReq) == 0 {
		return next, false, false
	}
	req := &sarama.ProduceRequest{
		RequiredAcks: sarama.WaitForAll,
		Timeout:      int32(e.o.requestTimeout / time.Millisecond),
		Version:      e.reqVersion,
	}
	for _, b := range s.inReq {
		req.AddBatch(b.p.topic, b.p.id, &b.rb)
	}
	var res produceResult
	if err := broker.AsyncProduce(req, s.onRes); err != nil {
		// Nothing went out (no connection, a failed write): the batches
		// are not sent, so one that expires gives its sequences back.
		res.err = err
	} else {
		e.mu.Lock()
		for _, b := range s.inReq {
			b.sent = true
		}
		e.mu.Unlock()
		select {
		case res = <-s.done:
		case <-e.stop:
			// Close's bound is spent: Close fails the batches in flight.
			return time.Time{}, true, true
		}
	}
	s.handle(broker, res)
	return time.Time{}, true, false
}

// handle settles or requeues the batches of the request just answered.
func (s *sender) handle(broker *sarama.Broker, res produceResult) {
	e := s.e
	now := time.Now()
	var done []*batch
	e.mu.Lock()
	for _, b := range s.inReq {
		p := b.p
		p.inflight = false
		var kerr sarama.KError
		var blk *sarama.ProduceResponseBlock
		if res.err == nil {
			blk = res.resp.GetBlock(p.topic, p.id)
		}
		switch {
		case res.err != nil:
			// Lost connection: the outcome is unknown, so the batch goes
			// again with the same sequence once the leader is known.
			e.rerouteLocked(p, now)
		case blk == nil:
			p.retryAt = now.Add(e.o.retryBackoff)
		default:
			kerr = blk.Err
			switch {
			case kerr == sarama.ErrNoError, kerr == sarama.ErrDuplicateSequenceNumber:
				// A duplicate is a retry of a batch the broker already
				// has: that is success.
				p.pop()
				b.offset = blk.Offset
				done = append(done, b)
			case isLeadershipError(kerr):
				e.rerouteLocked(p, now)
			case isRetriable(kerr):
				p.retryAt = now.Add(e.o.retryBackoff)
			case isSequenceError(kerr):
				done = e.failPartitionLocked(p, kerr, done)
			default:
				// Rejected, not written: give its sequences back, which
				// is sound as no later batch of p has been sent.
				p.pop()
				p.nextSeq = addSeq(p.nextSeq, -len(b.recs))
				b.err = kerr
				done = append(done, b)
			}
		}
		done = e.expireLocked(p, now, done)
	}
	e.mu.Unlock()
	clear(s.inReq)
	e.results.push(done...)
	if res.err != nil {
		e.log.Debug("produce: request failed, retrying", "broker", s.id, "error", res.err)
		// Close it so that the next leader lookup reconnects.
		if err := broker.Close(); err != nil && !errors.Is(err, sarama.ErrNotConnected) {
			e.log.Debug("produce: closing broker", "broker", s.id, "error", err)
		}
	}
}

func isLeadershipError(err sarama.KError) bool {
	switch err {
	case sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable,
		sarama.ErrUnknownTopicOrPartition, sarama.ErrFencedLeaderEpoch,
		sarama.ErrUnknownLeaderEpoch, sarama.ErrKafkaStorageError,
		sarama.ErrNotCoordinatorForConsumer, sarama.ErrReplicaNotAvailable:
		return true
	}
	return false
}

func isRetriable(err sarama.KError) bool {
	switch err {
	case sarama.ErrRequestTimedOut, sarama.ErrNotEnoughReplicas,
		sarama.ErrNotEnoughReplicasAfterAppend, sarama.ErrNetworkException,
		sarama.ErrThrottlingQuotaExceeded,
		sarama.ErrBrokerNotAvailable:
		return true
	}
	return false
}

func isSequenceError(err sarama.KError) bool {
	switch err {
	case sarama.ErrOutOfOrderSequenceNumber, sarama.ErrUnknownProducerID, sarama.ErrInvalidProducerEpoch:
		return true
	}
	return false
}
