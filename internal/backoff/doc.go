// Package backoff is bulwark's one exponential backoff: it computes how
// long the n-th retry waits; it does not wait. To wait, pass the delay to
// a [clock.Clock]'s Sleep (clock.Wall{} outside tests), which honours the
// context.
//
// A [Policy] grows from Initial, doubling up to Max, and varies the delay
// by its [Jitter] mode: [Half] (the zero value) for most retries, [Full]
// for a client among many calling one server, [None] where a package
// documents an exact schedule. [Pause] is the growing pause of a record
// whose dependency is unavailable.
//
// [clock.Clock]: github.com/bulwarkgo/bulwark/internal/clock.Clock
package backoff
