package dedup

import (
	"context"
	"errors"
	"time"
)

// Store keeps the processing state of dedup keys. Every implementation must
// pass the conformance suite in package deduptest.
//
// A key is in one of three states: absent, leased (a consumer is processing
// it; the lease expires on its own so a crash does not block the key
// forever) or confirmed (processed; the mark expires after the retention
// TTL). Every lease and confirmation carries the [Token] of the claim that
// made it, so that a holder whose lease expired cannot confirm or release a
// newer claim made by someone else.
//
// Methods must be safe for concurrent use, and a lease or confirmation that
// has expired must behave exactly like an absent key.
type Store interface {
	// Claim leases key for the given duration if it is absent (or expired)
	// and reports [Acquired] with a fresh token. A key confirmed and not yet
	// expired reports [Duplicate]; a key leased by anyone reports [Busy].
	Claim(ctx context.Context, key string, lease time.Duration) (Claim, error)

	// Confirm marks key as processed for ttl on behalf of token's claim. It
	// succeeds when key is leased or confirmed by token (even if the lease
	// has expired but nobody else claimed key since) or absent, and returns
	// [ErrLeaseLost] without changing anything when a live lease or
	// confirmation of another token holds key. Confirming twice with the
	// same token is not an error and renews the retention.
	Confirm(ctx context.Context, key string, token Token, ttl time.Duration) error

	// Release gives up token's lease on key so that the next delivery can
	// claim it at once. It never removes a confirmation. It returns nil when
	// key is absent or already confirmed by token, and [ErrLeaseLost]
	// without changing anything when a live lease or confirmation of another
	// token holds key.
	Release(ctx context.Context, key string, token Token) error
}

// Token identifies one successful claim. It is opaque; stores make it
// unique for the lifetime of their data.
type Token string

// State is the outcome of [Store.Claim].
type State int

const (
	// Acquired: the caller holds a fresh lease and must process the record,
	// then Confirm or Release.
	Acquired State = iota + 1
	// Duplicate: the key was confirmed within its retention: skip it.
	Duplicate
	// Busy: another claim holds a live lease on the key; its outcome is not
	// known yet.
	Busy
)

// String returns "acquired", "duplicate" or "busy".
func (s State) String() string {
	switch s {
	case Acquired:
		return "acquired"
	case Duplicate:
		return "duplicate"
	case Busy:
		return "busy"
	}
	return "unknown"
}

// Claim is the result of [Store.Claim].
type Claim struct {
	State State
	// Token is set when State is Acquired.
	Token Token
	// Remaining is, when State is Busy, how long the other lease has left
	// at most; zero when the store does not know.
	Remaining time.Duration
}

// Sentinel errors.
var (
	// ErrLeaseLost: the key is held by another claim's live lease or
	// confirmation, so the caller's token no longer owns it (its lease
	// expired and the key was claimed again).
	ErrLeaseLost = errors.New("dedup: lease lost to another claim")

	// ErrNoKey: the record has no dedup key: the key function returned ""
	// and so did the fallback ([WithFallbackKeyFunc]), or there is none.
	// With the defaults every record has a key (the message ID, else
	// [OffsetKey]). The middleware returns it as a permanent error unless
	// [WithAllowUnkeyed] is set.
	ErrNoKey = errors.New("dedup: record has no dedup key")

	// ErrInFlight: another consumer holds a live lease on the record's key
	// and did not finish within the busy wait. The middleware returns it as
	// a retryable error so the record is not committed before the other
	// consumer's outcome is known.
	ErrInFlight = errors.New("dedup: record is being processed elsewhere")

	// ErrInvalidConfig: a constructor was given a bad option.
	ErrInvalidConfig = errors.New("dedup: invalid configuration")
)
