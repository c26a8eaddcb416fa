// Package bulwark is the shared vocabulary of the bulwark Kafka libraries:
// the [Message] a handler receives or a producer sends, the [Handler] /
// [HandlerFunc] / [Middleware] shapes (the net/http pattern), and the error
// classes every package agrees on.
//
// The error classes decide what happens to a record whose handler failed:
//
//   - permanent ([Permanent], [ErrPermanent]): never retried; the record goes
//     to the dead-letter topic at once and is then committed.
//   - retryable ([Retryable], [ErrRetryable]): retried with backoff, then
//     dead-lettered. Errors of no declared class are retryable.
//   - pause ([Pause], [ErrPause]): a dependency is unavailable (an open
//     circuit breaker); the partition stops fetching, nothing is committed or
//     dead-lettered, and the record is tried again after the delay.
//
// [ErrFenced] is the one fencing error: another instance took over this
// producer's transactional ID or group member, and this instance must stop.
// producer.ErrFenced and eos.ErrFenced are the same value. It is
// pause-class: the record is not at fault.
//
// Feature packages (producer, consumer, eos, dedup, schema, resilience) import
// this package; this package imports none of them and no Kafka client.
package bulwark
