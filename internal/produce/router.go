package produce

// Goroutines: route runs on the router goroutine New starts and Close
// stops (via e.stop) and waits for. It alone looks up leaders and
// refreshes metadata, so a slow lookup holds up neither Produce nor the
// senders; it starts a broker's sender the first time it routes a
// partition there.

import (
	"time"

	"github.com/IBM/sarama"
)

// queueRouteLocked hands p to the router; the caller holds the lock and p
// has no sender.
func (e *Engine) queueRouteLocked(p *partition) {
	p.routing = true
	e.toRoute = append(e.toRoute, p)
	select {
	case e.routeWake <- struct{}{}:
	default:
	}
}

// rerouteLocked takes p away from its sender, after a leadership error or
// a lost connection, to look its leader up again after the backoff.
func (e *Engine) rerouteLocked(p *partition, now time.Time) {
	if s := p.sender; s != nil {
		s.removeLocked(p)
		p.sender = nil
	}
	p.refresh = true
	p.retryAt = now.Add(e.o.retryBackoff)
	if !p.routing {
		e.queueRouteLocked(p)
	}
}

func (e *Engine) route() {
	defer e.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-e.routeWake:
		case <-timer.C:
		}
		now := time.Now()
		var due []*partition
		var next time.Time
		refresh := map[string]bool{}
		e.mu.Lock()
		keep := e.toRoute[:0]
		for _, p := range e.toRoute {
			if now.Before(p.retryAt) {
				keep = append(keep, p)
				next = earliest(next, p.retryAt)
				continue
			}
			due = append(due, p)
			if p.refresh {
				refresh[p.topic] = true
			}
		}
		clear(e.toRoute[len(keep):])
		e.toRoute = keep
		e.mu.Unlock()

		for topic := range refresh {
			// A failed refresh leaves the cached metadata, which the
			// lookups below use; they fail in turn if it is no good.
			if err := e.client.RefreshMetadata(topic); err != nil {
				e.log.Debug("produce: metadata refresh failed", "topic", topic, "error", err)
			}
		}
		var wake []*sender
		var expired []*batch
		for _, p := range due {
			leader, err := e.client.Leader(p.topic, p.id)
			e.mu.Lock()
			if err != nil {
				e.log.Debug("produce: no leader", "topic", p.topic, "partition", p.id, "error", err)
				p.refresh = true
				p.retryAt = time.Now().Add(e.o.retryBackoff)
				next = earliest(next, p.retryAt)
				expired = e.expireLocked(p, time.Now(), expired)
				if len(p.queue) > 0 {
					e.toRoute = append(e.toRoute, p)
				} else {
					// Nothing left to route: the next Produce queues it
					// again, with a refresh.
					p.routing = false
				}
			} else {
				p.routing = false
				p.refresh = false
				s := e.senderLocked(leader)
				s.addLocked(p)
				p.sender = s
				wake = append(wake, s)
			}
			e.mu.Unlock()
		}
		e.results.push(expired...)
		for _, s := range wake {
			s.poke()
		}
		if at := e.bumpIfWanted(time.Now()); !at.IsZero() {
			next = earliest(next, at)
		}
		if !next.IsZero() {
			resetTimer(timer, time.Until(next))
		}
	}
}

// senderLocked returns the sender of broker b, starting it if needed, and
// points it at b (the client may have replaced the broker's object).
func (e *Engine) senderLocked(b *sarama.Broker) *sender {
	s := e.senders[b.ID()]
	if s == nil {
		s = newSender(e, b.ID())
		e.senders[b.ID()] = s
		e.wg.Add(1)
		go s.run()
	}
	s.broker = b
	return s
}

// expireLocked fails p's batches that are past the delivery timeout,
// appending them to out; each fails alone and the next ones keep their
// place. A batch never sent spent no sequence (a sealed one, always
// queue[0], gives its sequences back). A sent one may have been written:
// it fails with ErrMaybeWritten, and its partition's sequence state is
// lost, so the engine takes a new identity (see epoch.go).
func (e *Engine) expireLocked(p *partition, now time.Time, out []*batch) []*batch {
	for len(p.queue) > 0 && !p.inflight {
		b := p.queue[0]
		if now.Sub(b.created) < e.o.deliveryTimeout {
			break
		}
		switch {
		case b.sent:
			b.err = &maybeWrittenError{topic: p.topic, partition: p.id, cause: ErrDeliveryTimeout}
			e.requestBumpLocked(b.identity(), b.err)
			p.pop()
			out = append(out, b)
			out = e.failPartitionLocked(p, b.err, out)
			continue
		case b.sealed:
			p.nextSeq = addSeq(p.nextSeq, -len(b.recs))
			fallthrough
		default:
			b.err = ErrDeliveryTimeout
		}
		p.pop()
		out = append(out, b)
	}
	return out
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func resetTimer(t *time.Timer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	t.Reset(d)
}
