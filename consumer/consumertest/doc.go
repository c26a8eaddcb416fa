// Package consumertest drives a bulwark.Handler, with its middleware, the
// way the consumer does (retries with backoff, dead letters, pause-class
// errors) without Kafka, and records what the consumer would commit and
// dead-letter. It calls the same decision code as the consumer, so a unit
// test sees what production does; only the waits are skipped (their
// durations are recorded).
package consumertest
