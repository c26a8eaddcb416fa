package kafkatest

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is a Kafka request kind (its API key).
type Request int16

// Request kinds that fault injection commonly targets.
const (
	Produce            Request = Request(kmsg.Produce)
	Fetch              Request = Request(kmsg.Fetch)
	ListOffsets        Request = Request(kmsg.ListOffsets)
	Metadata           Request = Request(kmsg.Metadata)
	OffsetCommit       Request = Request(kmsg.OffsetCommit)
	OffsetFetch        Request = Request(kmsg.OffsetFetch)
	FindCoordinator    Request = Request(kmsg.FindCoordinator)
	JoinGroup          Request = Request(kmsg.JoinGroup)
	Heartbeat          Request = Request(kmsg.Heartbeat)
	LeaveGroup         Request = Request(kmsg.LeaveGroup)
	SyncGroup          Request = Request(kmsg.SyncGroup)
	InitProducerID     Request = Request(kmsg.InitProducerID)
	AddPartitionsToTxn Request = Request(kmsg.AddPartitionsToTxn)
	AddOffsetsToTxn    Request = Request(kmsg.AddOffsetsToTxn)
	EndTxn             Request = Request(kmsg.EndTxn)
	TxnOffsetCommit    Request = Request(kmsg.TxnOffsetCommit)
)

// topLevelOnly lists requests whose errors live only at the top level, so
// a fault on them must set the top-level error code.
var topLevelOnly = map[Request]bool{
	FindCoordinator: true, JoinGroup: true, Heartbeat: true, LeaveGroup: true, SyncGroup: true,
	InitProducerID: true, AddOffsetsToTxn: true, EndTxn: true,
}

// KafkaError is a Kafka protocol error code.
type KafkaError int16

// Kafka errors commonly injected.
const (
	UnknownServerError       KafkaError = -1
	NotLeaderOrFollower      KafkaError = 6
	RequestTimedOut          KafkaError = 7
	NetworkException         KafkaError = 13
	CoordinatorLoadInProg    KafkaError = 14
	CoordinatorNotAvailable  KafkaError = 15
	NotCoordinator           KafkaError = 16
	NotEnoughReplicas        KafkaError = 19
	IllegalGeneration        KafkaError = 22
	UnknownMemberID          KafkaError = 25
	RebalanceInProgress      KafkaError = 27
	TopicAuthorizationFailed KafkaError = 29
	InvalidProducerEpoch     KafkaError = 47
	InvalidTxnState          KafkaError = 48
	ConcurrentTransactions   KafkaError = 51
	UnstableOffsetCommit     KafkaError = 88
	ProducerFenced           KafkaError = 90
)

// Fault describes requests to fail. Zero selectors match everything.
type Fault struct {
	Requests   []Request // which request kinds; nil: all
	Brokers    []int32   // which brokers; nil: all
	Topic      string    // "": all topics
	Partitions []int32   // nil: all partitions
	Group      string    // "": all consumer groups
	TxnID      string    // "": all transactional IDs
	// TopLevel fails the request's top-level error code instead of its
	// per-partition ones. Set automatically for requests that only have a
	// top-level error (FindCoordinator, EndTxn, AddOffsetsToTxn, group calls).
	TopLevel bool
	Err      KafkaError // 0: UnknownServerError
	Count    int        // requests to fail; 0: one, -1: until removed
}

// FaultHandle controls an injected fault.
type FaultHandle struct{ h *kfake.FaultHandle }

// Hits returns how many requests the fault has failed.
func (f *FaultHandle) Hits() int { return f.h.Hits() }

// Wait blocks until the fault has failed n requests or ctx ends.
func (f *FaultHandle) Wait(ctx context.Context, n int) error { return f.h.Wait(ctx, n) }

// Remove stops the fault.
func (f *FaultHandle) Remove() { f.h.Remove() }

// InjectFault fails matching requests with f.Err.
// On external brokers it skips the test (NewCluster) or panics with a
// [*NeedsKfakeError] (Start).
func (c *Cluster) InjectFault(f Fault) *FaultHandle {
	c.mustKfake("InjectFault")
	kf := kfake.Fault{
		Nodes:      f.Brokers,
		Topic:      f.Topic,
		Partitions: f.Partitions,
		Group:      f.Group,
		TxnID:      f.TxnID,
		TopLevel:   f.TopLevel,
		Count:      f.Count,
	}
	for _, r := range f.Requests {
		kf.Keys = append(kf.Keys, kmsg.Key(r))
		if topLevelOnly[r] {
			kf.TopLevel = true
		}
	}
	code := int16(f.Err)
	if code == 0 {
		code = int16(UnknownServerError)
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		kf.Err = e
	}
	return &FaultHandle{h: c.kf.Fault(kf)}
}

// FailNext fails the next count requests of kind req with err.
func (c *Cluster) FailNext(req Request, err KafkaError, count int) *FaultHandle {
	c.mustKfake("FailNext")
	return c.InjectFault(Fault{Requests: []Request{req}, Err: err, Count: count})
}

// HoldNext holds the next request of kind req before the cluster handles
// it. The returned channel closes once such a request arrives; release lets
// it (and the rest of that connection's requests) go on. Other connections
// are not held. Closing the cluster releases it too.
func (c *Cluster) HoldNext(req Request) (arrived <-chan struct{}, release func()) {
	c.mustKfake("HoldNext")
	in := make(chan struct{})
	out := make(chan struct{})
	var inOnce, outOnce sync.Once
	c.kf.ControlKey(int16(req), func(kmsg.Request) (kmsg.Response, error, bool) {
		inOnce.Do(func() { close(in) })
		c.kf.SleepControl(func() { <-out })
		return nil, nil, false
	})
	return in, func() { outOnce.Do(func() { close(out) }) }
}
