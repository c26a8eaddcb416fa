// Package e2e holds the dedup end-to-end tests: the middleware with the
// PostgreSQL or Redis store between the producer and a consumer group on
// kafkatest, with duplicate sends, consumers that crash mid-handler, and
// the dedup cells of the fault matrix (TestFaultMatrix: Redis and
// PostgreSQL going away mid-stream, a producer without message IDs, store
// constructors against servers that never answer). It is a package of its
// own so that dedup's unit tests do not depend on the producer and
// consumer packages building. It has no API.
package e2e
