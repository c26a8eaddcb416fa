package eos

import (
	"context"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/txnsession"
)

// WithRebalanceListener tells l when the session's partitions change (see
// bulwark.RebalanceListener). A session rebalances eagerly: each
// generation starts with Assigned naming all its partitions and ends with
// Revoked (or Lost) naming all of them, even those the next generation
// gives back. The calls run on the group's goroutine, one at a time:
//
//   - Assigned runs before any record of the partitions is processed,
//     once they are positioned at their stable committed offsets.
//   - Revoked runs once the open transaction has committed or been
//     aborted (its records are processed again by the next owner, and
//     what it wrote stays invisible to read_committed readers); the
//     partitions are released only after it returns.
//   - Lost replaces Revoked when the generation ended because the member
//     was dropped (session timeout, lost connection) or its commit was
//     fenced as stale: another member may own the partitions already.
//
// The context carries Run's values but not its cancellation, and ends
// after the session timeout. Default: none.
func WithRebalanceListener(l bulwark.RebalanceListener) Option {
	return func(o *options) error {
		if l == nil {
			return invalidConfig("rebalance listener is nil")
		}
		o.listener = l
		return nil
	}
}

// rebalanceHooks are the group hooks that keep the readiness state and
// call the listener, with contexts built from Run's.
func (s *Session) rebalanceHooks(runCtx context.Context, h *txnsession.Hooks) {
	h.OnAssigned = func(parts []txnsession.TopicPartition) { s.readiness.assigned(len(parts)) }
	h.OnReleased = func([]txnsession.TopicPartition, bool) { s.readiness.released() }
	l := s.opts.listener
	if l == nil {
		return
	}
	base := context.WithoutCancel(runCtx)
	call := func(fn func(context.Context, []bulwark.TopicPartition), parts []txnsession.TopicPartition) {
		ps := make([]bulwark.TopicPartition, len(parts))
		for i, p := range parts {
			ps[i] = bulwark.TopicPartition{Topic: p.Topic, Partition: p.Partition}
		}
		ctx, cancel := context.WithTimeout(base, s.opts.sessionTimeout)
		defer cancel()
		fn(ctx, ps)
	}
	h.OnAssigned = func(parts []txnsession.TopicPartition) {
		s.readiness.assigned(len(parts))
		call(l.Assigned, parts)
	}
	h.OnReleased = func(parts []txnsession.TopicPartition, lost bool) {
		s.readiness.released()
		if lost {
			call(l.Lost, parts)
		} else {
			call(l.Revoked, parts)
		}
	}
}
