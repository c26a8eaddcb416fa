// Package deduptest is the conformance suite for [dedup.Store]
// implementations: claim, confirm, release, lease expiry, retention (TTL)
// expiry, owner-token protection, concurrent claims and, for durable
// stores, persistence across store instances and, for stores with a server
// ([WithOutage]), errors that pause rather than dead-letter while the
// server is down. The memory, Redis and SQL
// stores all pass it; run it on your own store:
//
//	func TestMyStore(t *testing.T) {
//		deduptest.Run(t, func(t *testing.T, namespace string) dedup.Store {
//			return mystore.New(db, namespace) // same namespace => same data
//		}, deduptest.Durable())
//	}
//
// The expiry tests sleep a few ticks (100ms by default, see [WithTick]);
// subtests run in parallel, so the whole suite takes about a second.
package deduptest
