package produce

// Goroutines: each sender runs on its own goroutine, started by the router
// (senderLocked) the first time a partition is routed to its broker and
// stopped by Close (e.stop, also while it waits for responses);
// Close waits for it. The sender owns its requests and free. sarama calls
// a request's onRes on the broker's response-reader goroutine; it only
// hands the request over on done, buffered for every request the sender
// has, so it never blocks that reader and never calls the broker, as
// AsyncProduce requires.

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
	done  chan *request // answered requests
	free  []*request    // requests not in flight
	first int           // where the next scan of parts starts; guarded by e.mu
}

// request is one produce request and its batches, at most one of each
// partition (WithMaxInFlight).
type request struct {
	broker  *sarama.Broker
	batches []*batch
	res     produceResult
	onRes   sarama.ProduceCallback
}

type produceResult struct {
	resp *sarama.ProduceResponse
	err  error
}

func newSender(e *Engine, id int32) *sender {
	n := e.o.maxInFlight
	s := &sender{e: e, id: id, wake: make(chan struct{}, 1), done: make(chan *request, n)}
	for range n {
		r := &request{}
		r.onRes = func(resp *sarama.ProduceResponse, err error) {
			r.res = produceResult{resp, err}
			s.done <- r
		}
		s.free = append(s.free, r)
	}
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
		// Send while a request is free and batches are ready.
		for len(s.free) > 0 {
			r := s.free[len(s.free)-1]
			next := s.fill(r)
			if len(r.batches) == 0 {
				if !next.IsZero() {
					resetTimer(timer, time.Until(next))
				}
				break
			}
			s.free = s.free[:len(s.free)-1]
			s.send(r)
		}
		select {
		case <-s.e.stop:
			// Close fails the batches still in flight.
			return
		case <-s.wake:
		case <-timer.C:
		case r := <-s.done:
			s.settle(r)
		}
	}
}

// fill puts the ready batches of the sender's partitions in r, at most one
// of each partition, as many as the request size allows. With nothing
// ready it returns when to look again.
func (s *sender) fill(r *request) (next time.Time) {
	e := s.e
	now := time.Now()
	var expired []*batch
	e.mu.Lock()
	flushing := e.flushing > 0
	r.broker = s.broker
	r.batches = r.batches[:0]
	size, full := 0, -1
	n := len(s.parts)
	// The scan starts where the last full request left off, so that a
	// partition left out of it is not left out again.
	first := s.first % max(n, 1)
	for i := range n {
		p := s.parts[(first+i)%n]
		expired = e.expireLocked(p, now, expired)
		ok, at := p.ready(now, &e.o, flushing)
		if !ok {
			if !at.IsZero() {
				next = earliest(next, at)
			}
			continue
		}
		if full >= 0 {
			continue
		}
		bytes := p.queue[0].requestBytes()
		if len(r.batches) > 0 && size+bytes > e.o.maxRequestBytes {
			full = (first + i) % n // sent next time, first
			continue
		}
		if !p.sealNext(e.identityLocked(), e.bumpWanted && e.txn == nil) {
			continue // the router pokes every sender after the bump
		}
		p.queue[0].rb.IsTransactional = e.txn != nil
		size += bytes
		p.inflight = true
		r.batches = append(r.batches, p.queue[0])
	}
	if full >= 0 {
		s.first = full
	}
	e.mu.Unlock()
	e.results.push(expired...)
	return next
}

// send hands r to its broker; when nothing went out, r is settled at once.
func (s *sender) send(r *request) {
	e := s.e
	req := &sarama.ProduceRequest{
		RequiredAcks: sarama.WaitForAll,
		Timeout:      int32(e.o.requestTimeout / time.Millisecond),
		Version:      e.reqVersion,
	}
	for _, b := range r.batches {
		req.AddBatch(b.p.topic, b.p.id, &b.rb)
	}
	if err := r.broker.AsyncProduce(req, r.onRes); err != nil {
		// Nothing went out (no connection, a failed write): the batches
		// are not sent, so one that expires gives its sequences back.
		r.res = produceResult{err: err}
		s.settle(r)
		return
	}
	e.mu.Lock()
	for _, b := range r.batches {
		b.resent = b.sent
		b.sent = true
	}
	e.mu.Unlock()
}

// settle handles r's answer and frees r.
func (s *sender) settle(r *request) {
	s.handle(r.broker, r.batches, r.res)
	clear(r.batches)
	r.batches = r.batches[:0]
	r.res = produceResult{}
	s.free = append(s.free, r)
}

// handle settles or requeues the batches of a request just answered.
func (s *sender) handle(broker *sarama.Broker, batches []*batch, res produceResult) {
	e := s.e
	now := time.Now()
	var done []*batch
	e.mu.Lock()
	for _, b := range batches {
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
			case kerr == sarama.ErrNoError:
				p.pop()
				b.offset = blk.Offset
				done = append(done, b)
			case kerr == sarama.ErrDuplicateSequenceNumber:
				// A retry of a batch the broker already has, too old
				// for it to remember where: that is success, at an
				// offset no one knows, so the callbacks get -1.
				p.pop()
				b.offset = -1
				done = append(done, b)
			case isLeadershipError(kerr):
				e.rerouteLocked(p, now)
			case isRetriable(kerr):
				p.retryAt = now.Add(e.o.retryBackoff)
			case isSequenceError(kerr) && e.txn != nil:
				done = e.failPartitionLocked(p, kerr, done)
			case isSequenceError(kerr):
				// Rejected, so not written (see epoch.go): the batch
				// goes again under a new identity from sequence 0.
				b.sent, b.resent = false, false
				p.retryAt = now.Add(e.o.retryBackoff)
				e.requestBumpLocked(b.identity(), kerr)
			case b.resent:
				// Rejected, but an earlier send whose answer was lost
				// or inconclusive may have been written, so its
				// sequences cannot be given back: the partition goes
				// on under a new identity (see epoch.go).
				p.pop()
				b.err = &maybeWrittenError{topic: p.topic, partition: p.id, cause: kerr}
				e.requestBumpLocked(b.identity(), b.err)
				done = append(done, b)
				done = e.failPartitionLocked(p, b.err, done)
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
