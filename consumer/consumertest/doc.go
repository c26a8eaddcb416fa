// Package consumertest drives a bulwark.Handler, with its middleware, the
// way the consumer does (retries with backoff, dead letters, pause-class
// errors) without Kafka, and records what the consumer would commit and
// dead-letter. It calls the same decision code as the consumer, so a unit
// test sees what production does. The waits (retry backoff, pause delays)
// are recorded and slept on a [Clock] ([WithClock]): by default one from
// [NewAutoClock], whose virtual time jumps by each wait, so no test sleeps
// for real; a [NewFakeClock] makes each wait block until the test advances
// the clock. A delivery stops at an attempt limit ([WithAttemptLimit]), so a
// persistent pause-class error ends the test instead of looping.
package consumertest
