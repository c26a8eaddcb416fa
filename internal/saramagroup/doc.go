// Package saramagroup provides consumer-group membership on top of sarama's
// ConsumerGroup without sarama types in its API: sessions, claims that yield
// bulwark messages, per-partition pause and resume, and offset commits sent
// over a client of their own.
//
// Commits have their own client because a broker answers the requests of
// one connection in order: a commit sent on the connection that carries a
// long-poll fetch (sarama's default when the coordinator leads a consumed
// partition) waits for that fetch, up to Consumer.MaxWaitTime (500 ms), so a
// caught-up consumer's commits would each take about half a second.
package saramagroup
