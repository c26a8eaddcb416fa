// Package fate is bulwark's one record-fate policy: after a record's
// handler failed, [Next] decides whether the record is retried after a
// backoff, paused (a dependency is unavailable), dead-lettered, or left
// uncommitted because the context ended. The consumer's single-record and
// batch deliveries and the eos transaction loop all ask it, so the error
// classes of package bulwark mean the same everywhere.
//
// Next is pure: it reads the error's class, the record's [State] and its
// [Limits], and returns the decision with the state to pass to the next
// failure. It does not wait, log or count; the callers do, and read the
// clock only when a [Limits.MaxElapsed] needs it.
package fate
