package outbox

import "time"

// State is what a relay is doing.
type State string

// The states of a relay.
const (
	StateStopped     State = "stopped"     // Run is not running
	StateStandby     State = "standby"     // another relay leads; this one tries again every poll interval
	StateLeader      State = "leader"      // publishing
	StateReconciling State = "reconciling" // waiting out the takeover grace, or reading the topic's tail
	StatePaused      State = "paused"      // PostgreSQL or Kafka failed; retrying after a backoff
)

// Stats is a snapshot of a relay's counters since NewRelay.
type Stats struct {
	State State
	// Published counts rows this relay published and marked sent.
	Published int64
	// Reconciled counts rows a reconcile found already in Kafka (sent by a
	// relay that crashed, or by a batch that failed, before marking them).
	Reconciled int64
	// Reconciles counts reconciles; RecordsRead the records they read in
	// all, MaxRecordsRead the most one of them read. A reconcile reads
	// only what each partition holds past the relay's last marked
	// position, so these stay near the batch size times the number of
	// reconciles, whatever the topic's length.
	Reconciles     int64
	RecordsRead    int64
	MaxRecordsRead int64
	// Leaderships counts the times this relay became the leader.
	Leaderships int64
	// SendFailures counts records the producer failed to deliver (kept
	// unsent, retried after a reconcile); Failures the times the relay
	// paused because PostgreSQL or Kafka failed.
	SendFailures int64
	Failures     int64
	// LastError is the most recent failure, and LastErrorAt when it was.
	LastError   error
	LastErrorAt time.Time
}
