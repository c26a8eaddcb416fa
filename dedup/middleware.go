package dedup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/logging"
)

// Deduplicator is the idempotent-consumer middleware: it lets a record's
// handler run at most once per dedup key within the retention period,
// whatever the number of deliveries, on one consumer or many sharing a
// [Store].
//
// For each record it
//  1. finds the key: the message-ID header by default ([WithKeyFunc]), and
//     for a record without one (from a producer that sets none) the
//     fallback key, by default [OffsetKey], the record's topic, partition
//     and offset ([WithFallbackKeyFunc]). A record with neither fails with
//     a permanent [ErrNoKey] unless [WithAllowUnkeyed] is set;
//  2. claims the key with a short lease ([WithLease]);
//     - confirmed earlier: the record is a duplicate; the handler is not
//     called and nil is returned, so the record counts as finished and is
//     committed (bulwark.dedup.duplicates, debug log);
//     - leased by another claim (the same record racing on another
//     consumer, around a rebalance): it waits up to [WithBusyWait] for that
//     outcome, polling the store. If the other consumer confirms, the
//     record is a duplicate; if it releases or its lease expires (it
//     failed or crashed), this delivery claims the key and processes the
//     record. If the wait ends first it returns a retryable [ErrInFlight]:
//     the record must not be committed before the winner has finished, or
//     a winner that then fails would leave it unprocessed;
//  3. runs the handler, with the claim available through [LeaseFrom];
//  4. on success confirms the key for the retention period ([WithRetention]);
//     on failure (or panic) releases it so a redelivery processes it again,
//     and returns the handler's error unchanged.
//
// A store that is unavailable (see [IsUnavailable]: Redis or PostgreSQL
// down, restarting, unreachable, timing out) makes the middleware return a
// pause-class error ([bulwark.Pause]): the consumer pauses the partition,
// uses no retry attempt, dead-letters nothing, and tries the record again
// after its pause delay, until the store is back. Other store errors are
// retryable. A failed claim means the handler does not run. A failed
// confirm or release, after the handler ran, is remembered (for up to 4096
// keys) and recorded first when the record comes again, so the consumer's
// retry after the pause neither runs a succeeded handler a second time nor
// waits for the lease of a failed one to expire. Only a redelivery elsewhere (the
// partition moved to another consumer meanwhile) processes a record whose
// confirm was missed again, once its lease expires; a side effect written
// in the same transaction as the dedup mark (the SQL store's ConfirmTx) is
// exactly-once even then. A claim whose reply was lost leaves a lease
// nobody knows the token of: the record waits for it to expire (at most
// the lease, [WithLease]).
//
// A confirm that finds the key claimed by someone else ([ErrLeaseLost]:
// the handler outlived its lease) is logged at warn level and counted as a
// lease_lost conflict; the record counts as finished since its handler
// succeeded, but the other claim may process it a second time.
type Deduplicator struct {
	store Store
	cfg   config
	m     *metrics
	log   *slog.Logger
	owed  owed
}

// New returns a Deduplicator over store.
func New(store Store, opts ...Option) (*Deduplicator, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	cfg := config{
		key:          (*bulwark.Message).MessageID,
		fallback:     OffsetKey,
		lease:        DefaultLease,
		retention:    DefaultRetention,
		storeTimeout: DefaultStoreTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.busyWaitSet {
		cfg.busyWait = cfg.lease
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.meters, cfg.name)
	if err != nil {
		return nil, fmt.Errorf("dedup: metrics: %w", err)
	}
	log := cfg.logger
	if log == nil {
		log = logging.Default()
	}
	if cfg.name != "" {
		log = log.With("dedup_name", cfg.name)
	}
	return &Deduplicator{store: store, cfg: cfg, m: m, log: log}, nil
}

// Middleware returns d as a [bulwark.Middleware].
func (d *Deduplicator) Middleware() bulwark.Middleware { return d.Wrap }

// Wrap returns next guarded by d.
func (d *Deduplicator) Wrap(next bulwark.Handler) bulwark.Handler {
	return bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		return d.handle(ctx, msg, next)
	})
}

// Lease is the claim under which a handler runs.
type Lease struct {
	Key   string
	Token Token
}

type leaseKey struct{}

// LeaseFrom returns the claim the handler runs under, when called inside a
// handler wrapped by a [Deduplicator]. A handler that writes to a database
// passes it to the SQL store's ConfirmTx to commit the dedup mark with its
// own transaction.
func LeaseFrom(ctx context.Context) (Lease, bool) {
	l, ok := ctx.Value(leaseKey{}).(Lease)
	return l, ok
}

func (d *Deduplicator) handle(ctx context.Context, msg *bulwark.Message, next bulwark.Handler) (err error) {
	key := d.cfg.key(msg)
	if key == "" && d.cfg.fallback != nil {
		if key = d.cfg.fallback(msg); key != "" {
			d.m.fallbackKeys.Add(ctx, 1, d.m.plain)
		}
	}
	if key == "" {
		if d.cfg.allowUnkeyed {
			d.m.unkeyed.Add(ctx, 1, d.m.plain)
			if d.log.Enabled(ctx, slog.LevelDebug) {
				d.log.DebugContext(ctx, "dedup: record without key passed through", recordAttrs(msg)...)
			}
			return next.Handle(ctx, msg)
		}
		return bulwark.Permanent(fmt.Errorf("%w: %s/%d@%d", ErrNoKey, msg.Topic, msg.Partition, msg.Offset))
	}

	if o, ok := d.owed.get(key); ok {
		if done, err := d.settleOwed(ctx, o, msg); done || err != nil {
			return err
		}
	}

	claim, err := d.claim(ctx, key, msg)
	if err != nil {
		return err
	}
	if claim.State == Duplicate {
		d.m.duplicates.Add(ctx, 1, d.m.plain)
		if d.log.Enabled(ctx, slog.LevelDebug) {
			d.log.DebugContext(ctx, "dedup: duplicate skipped", append(recordAttrs(msg), "key", key)...)
		}
		return nil
	}

	finished := false
	defer func() {
		if !finished { // the handler panicked: free the key, keep panicking
			d.release(ctx, key, claim.Token, msg)
		}
	}()
	err = next.Handle(context.WithValue(ctx, leaseKey{}, Lease{Key: key, Token: claim.Token}), msg)
	finished = true
	if err != nil {
		d.release(ctx, key, claim.Token, msg)
		return err
	}
	return d.confirm(ctx, key, claim.Token, msg)
}

// settleOwed records the outcome the store missed when o's record was
// handled before. done reports that the record is finished (its handler
// had succeeded and the confirm is now recorded, or lost to another
// claim); otherwise, with a nil error, the key is free to claim.
func (d *Deduplicator) settleOwed(ctx context.Context, o owedEntry, msg *bulwark.Message) (done bool, err error) {
	cctx, cancel := d.outcomeCtx(ctx)
	defer cancel()
	if o.confirm {
		err := d.store.Confirm(cctx, o.key, o.token, d.cfg.retention)
		switch {
		case err == nil:
			d.log.InfoContext(ctx, "dedup: missed confirm recorded; the handler does not run again", append(recordAttrs(msg), "key", o.key)...)
		case errors.Is(err, ErrLeaseLost):
			d.leaseLostOnConfirm(ctx, o.key, msg)
		default:
			d.m.storeErrors.Add(ctx, 1, d.m.opConfirm)
			d.log.WarnContext(ctx, "dedup: confirm failed again", append(recordAttrs(msg), "key", o.key, "error", err)...)
			return false, storeError("confirm", o.key, err)
		}
		d.owed.settle(o.key, o.token)
		return true, nil
	}
	if err := d.store.Release(cctx, o.key, o.token); err != nil && !errors.Is(err, ErrLeaseLost) {
		d.m.storeErrors.Add(ctx, 1, d.m.opRelease)
		d.log.WarnContext(ctx, "dedup: release failed again", append(recordAttrs(msg), "key", o.key, "error", err)...)
		if IsUnavailable(err) {
			return false, storeError("release", o.key, err)
		}
		// Anything else: claim anyway; a key still leased waits for its
		// lease to expire, as it would have had the release never been
		// remembered.
	}
	d.owed.settle(o.key, o.token)
	return false, nil
}

// claim claims key, waiting while another claim holds it.
func (d *Deduplicator) claim(ctx context.Context, key string, msg *bulwark.Message) (Claim, error) {
	deadline := time.Now().Add(d.cfg.busyWait)
	for polls := 0; ; polls++ {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.storeTimeout)
		c, err := d.store.Claim(cctx, key, d.cfg.lease)
		cancel()
		if err != nil {
			d.m.storeErrors.Add(ctx, 1, d.m.opClaim)
			d.log.WarnContext(ctx, "dedup: claim failed", append(recordAttrs(msg), "key", key, "error", err)...)
			if ctx.Err() != nil {
				return Claim{}, fmt.Errorf("dedup: claim %q: %w", key, ctx.Err())
			}
			return Claim{}, storeError("claim", key, err)
		}
		switch c.State {
		case Acquired:
			d.m.claims.Add(ctx, 1, d.m.claimAcquired)
			return c, nil
		case Duplicate:
			d.m.claims.Add(ctx, 1, d.m.claimDuplicate)
			return c, nil
		case Busy:
			d.m.claims.Add(ctx, 1, d.m.claimBusy)
		default:
			return Claim{}, bulwark.Retryable(fmt.Errorf("dedup: store returned claim state %d for %q", c.State, key))
		}
		if polls == 0 {
			d.m.conflicts.Add(ctx, 1, d.m.conflictBusy)
			if d.log.Enabled(ctx, slog.LevelDebug) {
				d.log.DebugContext(ctx, "dedup: key leased elsewhere, waiting", append(recordAttrs(msg), "key", key, "remaining", c.Remaining)...)
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return Claim{}, bulwark.Retryable(fmt.Errorf("%w: key %q", ErrInFlight, key))
		}
		wait := min(busyPoll.Delay(polls+1), left)
		if c.Remaining > 0 && c.Remaining+time.Millisecond < wait {
			wait = c.Remaining + time.Millisecond
		}
		if err := (clock.Wall{}).Sleep(ctx, wait); err != nil {
			return Claim{}, fmt.Errorf("dedup: waiting for in-flight key %q: %w", key, err)
		}
	}
}

// busyPoll paces the claims of a key leased elsewhere: soon at first (a
// duplicate delivered twice in a row is usually done in milliseconds),
// then less often. Exact: the wait is also cut to the lease's remaining
// time, which jitter would only blur.
var busyPoll = backoff.Policy{Initial: 5 * time.Millisecond, Max: 250 * time.Millisecond, Jitter: backoff.None}

// outcomeCtx bounds a Confirm or Release. It survives the record's
// cancellation: the handler's outcome must still be recorded.
func (d *Deduplicator) outcomeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d.cfg.storeTimeout)
}

func (d *Deduplicator) confirm(ctx context.Context, key string, tok Token, msg *bulwark.Message) error {
	cctx, cancel := d.outcomeCtx(ctx)
	err := d.store.Confirm(cctx, key, tok, d.cfg.retention)
	cancel()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrLeaseLost):
		d.leaseLostOnConfirm(ctx, key, msg)
		return nil
	default:
		d.m.storeErrors.Add(ctx, 1, d.m.opConfirm)
		d.log.WarnContext(ctx, "dedup: confirm failed; recorded when the record comes again", append(recordAttrs(msg), "key", key, "error", err)...)
		d.owed.put(owedEntry{key: key, token: tok, confirm: true})
		return storeError("confirm", key, err)
	}
}

func (d *Deduplicator) leaseLostOnConfirm(ctx context.Context, key string, msg *bulwark.Message) {
	d.m.conflicts.Add(ctx, 1, d.m.conflictLeaseLost)
	d.log.WarnContext(ctx, "dedup: lease lost before confirm; the handler outlived its lease and the record may be processed twice",
		append(recordAttrs(msg), "key", key, "lease", d.cfg.lease)...)
}

// release frees key after a failed handler. A failure here is logged and
// remembered, not returned: the handler's own error is what the consumer
// acts on, and the redelivery releases the key first.
func (d *Deduplicator) release(ctx context.Context, key string, tok Token, msg *bulwark.Message) {
	rctx, cancel := d.outcomeCtx(ctx)
	err := d.store.Release(rctx, key, tok)
	cancel()
	switch {
	case err == nil:
	case errors.Is(err, ErrLeaseLost):
		d.m.conflicts.Add(ctx, 1, d.m.conflictLeaseLost)
		d.log.WarnContext(ctx, "dedup: lease lost before release", append(recordAttrs(msg), "key", key)...)
	default:
		d.m.storeErrors.Add(ctx, 1, d.m.opRelease)
		d.log.WarnContext(ctx, "dedup: release failed; retried when the record comes again",
			append(recordAttrs(msg), "key", key, "error", err)...)
		d.owed.put(owedEntry{key: key, token: tok})
	}
}

func recordAttrs(msg *bulwark.Message) []any {
	return []any{"topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset}
}
