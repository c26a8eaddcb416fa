// Package resilience guards calls to a dependency with a circuit breaker,
// a bulkhead, retries, a per-call timeout and a rate limiter, as
// [bulwark.Middleware] around record handlers and, with the same state,
// around any function ([Do], [Get]): a producer send, the HTTP call a
// handler makes.
//
// Each policy is built once ([NewBreaker], [NewBulkhead], [NewRetry],
// [NewTimeout], [NewRateLimiter]) and shared by everything that calls the
// dependency it guards: one breaker per downstream, used by every consumer
// and function that calls it. Policies compose in the order given, the
// first outermost ([Chain], or [bulwark.Chain] with each policy's
// Middleware). A good order is
//
//	resilience.Chain(retry, limiter, bulkhead, breaker, timeout)
//
// # Working with the consumer
//
// A rejected call (breaker open, bulkhead full, rate limited) is not a
// failure of the record: the policy returns the pause class
// ([bulwark.Pause]) wrapping [ErrBreakerOpen], [ErrBulkheadFull] or
// [ErrRateLimited], with a delay. The consumer then pauses the partition for
// that delay, commits nothing it did not finish, dead-letters nothing, and
// tries the record again: an open breaker stops fetching without a busy
// loop until its open delay ends and it lets a probe through; a full
// bulkhead slows fetching. Retry never retries permanent or pause-class
// errors. Permanent errors do not trip the breaker by default
// ([CountsAsFailure]).
//
// # Telemetry
//
// Metrics, through [WithMeterProvider] (default: the otel global), all with
// the attributes bulwark.resilience.name and bulwark.resilience.policy:
//   - bulwark.resilience.breaker.state: gauge, 0 closed, 1 open, 2 half-open
//   - bulwark.resilience.breaker.transitions: state changes, by new state
//     (bulwark.resilience.breaker.state)
//   - bulwark.resilience.rejections: calls not made (breaker, bulkhead,
//     rate limiter)
//   - bulwark.resilience.retries: retry attempts
//   - bulwark.resilience.timeouts: calls past their limit
//   - bulwark.resilience.bulkhead.queued: calls waiting for a slot
//   - bulwark.resilience.bulkhead.wait: seconds waited by calls that found
//     the bulkhead full
//
// Breaker state changes are logged through [WithLogger] (default: discard).
//
// # Testing without sleeping
//
// [WithClock] gives the breaker, the retry, the bulkhead and the rate
// limiter the clock they measure and wait on (default: the wall clock).
// With a fake clock, such as consumertest's FakeClock, a test opens a
// breaker and, by advancing the clock past the open delay, lets its next
// call through as a half-open probe; the breaker's failure-rate window
// slides, retry backoffs and bulkhead waits pass, and the rate limiter's
// permits come back, all in virtual time. Sharing one
// auto-advancing clock with a consumertest harness runs a whole outage
// (breaker open, partition paused for the breaker's delays, probe, recovery)
// in microseconds.
//
// # Cost
//
// The breaker and the bulkhead are github.com/failsafe-go/failsafe-go's,
// none of its types exported. Where failsafe-go reads the wall clock with
// no way to give it another, the time is this package's own: the retry
// loop (failsafe-go's sleeps on timers no test can advance), the breaker's
// open delay and failure-rate window, and the rate limiter's permits
// (failsafe-go's arithmetic, on the policy's clock). On the success path the middleware calls their permit
// methods directly rather than building a failsafe-go execution per call:
// the full chain (retry, breaker, bulkhead, timeout) adds well under a
// microsecond and the allocations of one context.WithTimeout to a call.
package resilience
