package eos

import "time"

// Stats is a snapshot of a session's running totals, for health checks and
// tests; the same figures are metrics (see the Metric* names). Totals cover
// every Run of the session.
type Stats struct {
	Commits int64 // transactions committed
	Aborts  int64 // transactions aborted, any reason
	Fenced  int64 // times the producer or the group member was fenced
	// RecordsProcessed counts input records in committed transactions;
	// records of aborted ones are processed again and counted then.
	RecordsProcessed int64
	// DeadLettered counts input records written to the dead-letter topic
	// in committed transactions.
	DeadLettered int64
	// LastCommit is when the last transaction committed (zero before the
	// first), LastCommitLatency how long that commit took.
	LastCommit        time.Time
	LastCommitLatency time.Duration
	// MissingTopics is the number of input topics Run waits for
	// ([WithWaitForTopics]).
	MissingTopics int
}

// Stats returns the session's running totals. Safe to call at any time,
// from any goroutine, also while Run runs.
func (s *Session) Stats() Stats {
	c := &s.inst.counts
	st := Stats{
		Commits:           c.commits.Load(),
		Aborts:            c.aborts.Load(),
		Fenced:            c.fenced.Load(),
		RecordsProcessed:  c.records.Load(),
		DeadLettered:      c.deadLettered.Load(),
		LastCommitLatency: time.Duration(c.lastCommitLatency.Load()),
		MissingTopics:     int(s.missing.Load()),
	}
	if n := c.lastCommitNanos.Load(); n != 0 {
		st.LastCommit = time.Unix(0, n)
	}
	return st
}
