// Package e2e holds the dedup end-to-end test: the middleware with the
// PostgreSQL store between the producer and a consumer group on kafkatest,
// with duplicate sends and consumers that crash mid-handler. It is a
// package of its own so that dedup's unit tests do not depend on the
// producer and consumer packages building. It has no API.
package e2e
