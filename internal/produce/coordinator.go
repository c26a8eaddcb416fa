package produce

// The transaction and group coordinators: the requests a transactional
// engine sends besides produce requests (InitProducerID,
// AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn), each
// retried while the coordinator is loading, moving, unreachable or still
// busy with the previous transaction (CONCURRENT_TRANSACTIONS). Calls run
// on the goroutine that needs them (the caller's, or the adder's); no
// goroutine of its own.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/backoff"
)

type coordinator struct {
	client  sarama.Client
	id      string
	timeout time.Duration
	backoff backoff.Policy
	stop    <-chan struct{} // the engine's; nil during New
	log     *slog.Logger
	retries int // 0: until the context ends

	txnVersion    int16 // AddPartitionsToTxn, AddOffsetsToTxn, EndTxn
	initVersion   int16
	offsetVersion int16 // TxnOffsetCommit
}

func newCoordinator(client sarama.Client, o *options, stop <-chan struct{}) *coordinator {
	v := client.Config().Version
	c := &coordinator{
		client:  client,
		id:      o.txnID,
		timeout: o.txnTimeout,
		// Short: CONCURRENT_TRANSACTIONS clears within milliseconds of
		// the previous EndTxn; a coordinator move within a metadata
		// refresh.
		backoff: backoff.Policy{Initial: 10 * time.Millisecond, Max: max(o.retryBackoff, 10*time.Millisecond)},
		stop:    stop,
		log:     o.logger,
		retries: o.txnRetries,
	}
	// The versions sarama's own transaction manager picks for v.
	switch {
	case v.IsAtLeast(sarama.V2_8_0_0):
		c.txnVersion = 3 // flexible
	case v.IsAtLeast(sarama.V2_7_0_0):
		c.txnVersion = 2 // PRODUCER_FENCED
	case v.IsAtLeast(sarama.V2_0_0_0):
		c.txnVersion = 1
	}
	switch {
	case v.IsAtLeast(sarama.V2_7_0_0):
		c.initVersion = 4
	case v.IsAtLeast(sarama.V2_5_0_0):
		c.initVersion = 3
	case v.IsAtLeast(sarama.V2_4_0_0):
		c.initVersion = 2
	case v.IsAtLeast(sarama.V2_0_0_0):
		c.initVersion = 1
	}
	switch {
	case v.IsAtLeast(sarama.V2_5_0_0):
		c.offsetVersion = 3 // KIP-447 group metadata
	case v.IsAtLeast(sarama.V2_1_0_0):
		c.offsetVersion = 2
	case v.IsAtLeast(sarama.V2_0_0_0):
		c.offsetVersion = 1
	}
	return c
}

// initTxnProducerID gets the producer ID and epoch of o's transactional
// ID; doing so fences any older producer with that ID and aborts its open
// transaction.
func initTxnProducerID(ctx context.Context, client sarama.Client, o *options) (*sarama.InitProducerIDResponse, error) {
	if !client.Config().Version.IsAtLeast(sarama.V0_11_0_0) {
		return nil, fmt.Errorf("produce: transactions need Kafka 0.11 or later")
	}
	return newCoordinator(client, o, nil).initProducerID(ctx)
}

func (c *coordinator) initProducerID(ctx context.Context) (*sarama.InitProducerIDResponse, error) {
	var resp *sarama.InitProducerIDResponse
	_, err := c.txnCall(ctx, func(b *sarama.Broker) error {
		id := c.id
		r, err := b.InitProducerID(&sarama.InitProducerIDRequest{
			Version:            c.initVersion,
			TransactionalID:    &id,
			TransactionTimeout: c.timeout,
			ProducerID:         -1,
			ProducerEpoch:      -1,
		})
		if err != nil {
			return err
		}
		resp = r
		return kerrOrNil(r.Err)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// addPartitions makes one AddPartitionsToTxn attempt; the adder retries.
func (c *coordinator) addPartitions(pid int64, epoch int16, parts map[string][]int32) (*sarama.AddPartitionsToTxnResponse, error) {
	var resp *sarama.AddPartitionsToTxnResponse
	_, err := c.once(c.txnLookup, c.txnRefresh, func(b *sarama.Broker) error {
		r, err := b.AddPartitionsToTxn(&sarama.AddPartitionsToTxnRequest{
			Version:         c.txnVersion,
			TransactionalID: c.id,
			ProducerID:      pid,
			ProducerEpoch:   epoch,
			TopicPartitions: parts,
		})
		resp = r
		return err
	})
	return resp, err
}

func (c *coordinator) addOffsets(ctx context.Context, pid int64, epoch int16, group string) error {
	_, err := c.txnCall(ctx, func(b *sarama.Broker) error {
		r, err := b.AddOffsetsToTxn(&sarama.AddOffsetsToTxnRequest{
			Version:         c.txnVersion,
			TransactionalID: c.id,
			ProducerID:      pid,
			ProducerEpoch:   epoch,
			GroupID:         group,
		})
		if err != nil {
			return err
		}
		return kerrOrNil(r.Err)
	})
	return err
}

// commitOffsets sends TxnOffsetCommit to the group's coordinator; a
// partition's error fails the call (retried when retriable: committing
// the same offsets again is harmless).
func (c *coordinator) commitOffsets(ctx context.Context, pid int64, epoch int16, meta GroupMeta, offsets map[string]map[int32]int64) error {
	topics := make(map[string][]*sarama.PartitionOffsetMetadata, len(offsets))
	for topic, parts := range offsets {
		for p, off := range parts {
			topics[topic] = append(topics[topic], &sarama.PartitionOffsetMetadata{Partition: p, Offset: off, LeaderEpoch: -1})
		}
	}
	req := &sarama.TxnOffsetCommitRequest{
		Version:         c.offsetVersion,
		TransactionalID: c.id,
		GroupID:         meta.Group,
		ProducerID:      pid,
		ProducerEpoch:   epoch,
		GenerationID:    meta.Generation,
		MemberID:        meta.MemberID,
		Topics:          topics,
	}
	if meta.InstanceID != "" {
		id := meta.InstanceID
		req.GroupInstanceID = &id
	}
	lookup := func() (*sarama.Broker, error) { return c.client.Coordinator(meta.Group) }
	refresh := func() error { return c.client.RefreshCoordinator(meta.Group) }
	_, err := c.call(ctx, lookup, refresh, func(b *sarama.Broker) error {
		r, err := b.TxnOffsetCommit(req)
		if err != nil {
			return err
		}
		for _, perrs := range r.Topics {
			for _, pe := range perrs {
				if pe.Err != sarama.ErrNoError {
					return pe.Err
				}
			}
		}
		return nil
	})
	return err
}

// endTxn commits or aborts; maybeSent reports that an attempt may have
// reached the coordinator although its answer was lost.
func (c *coordinator) endTxn(ctx context.Context, pid int64, epoch int16, commit bool) (maybeSent bool, err error) {
	return c.txnCall(ctx, func(b *sarama.Broker) error {
		r, err := b.EndTxn(&sarama.EndTxnRequest{
			Version:           c.txnVersion,
			TransactionalID:   c.id,
			ProducerID:        pid,
			ProducerEpoch:     epoch,
			TransactionResult: commit,
		})
		if err != nil {
			return err
		}
		return kerrOrNil(r.Err)
	})
}

func (c *coordinator) txnLookup() (*sarama.Broker, error) {
	return c.client.TransactionCoordinator(c.id)
}
func (c *coordinator) txnRefresh() error { return c.client.RefreshTransactionCoordinator(c.id) }

func (c *coordinator) txnCall(ctx context.Context, attempt func(*sarama.Broker) error) (bool, error) {
	return c.call(ctx, c.txnLookup, c.txnRefresh, attempt)
}

// call retries attempt with a short backoff while its error is retriable,
// until the retries run out, ctx ends or the engine closes; maybeSent as
// for endTxn.
func (c *coordinator) call(ctx context.Context, lookup func() (*sarama.Broker, error), refresh func() error, attempt func(*sarama.Broker) error) (maybeSent bool, err error) {
	for n := 1; ; n++ {
		sent, err := c.once(lookup, refresh, attempt)
		maybeSent = maybeSent || sent
		if err == nil || !retriableTxn(err) {
			return maybeSent, err
		}
		if c.retries > 0 && n > c.retries {
			return maybeSent, fmt.Errorf("%w (gave up after %d attempts)", err, n)
		}
		c.log.Debug("produce: transactional request failed, retrying", "transactional_id", c.id, "attempt", n, "error", err)
		if perr := c.pause(ctx, n); perr != nil {
			return maybeSent, fmt.Errorf("%w (last error: %w)", perr, err)
		}
	}
}

// once makes one attempt; on a lost connection or a coordinator that
// moved it closes the connection and looks the coordinator up again, for
// the next attempt. sent reports that a request went out and its answer
// was lost.
func (c *coordinator) once(lookup func() (*sarama.Broker, error), refresh func() error, attempt func(*sarama.Broker) error) (sent bool, err error) {
	b, err := lookup()
	if err != nil {
		return false, err
	}
	err = attempt(b)
	var kerr sarama.KError
	// A coordinator that timed out may still apply the request.
	sent = errors.As(err, &kerr) && kerr == sarama.ErrRequestTimedOut
	switch {
	case err == nil:
		return false, nil
	case !errors.As(err, &kerr):
		sent = true
		if cerr := b.Close(); cerr != nil && !errors.Is(cerr, sarama.ErrNotConnected) {
			c.log.Debug("produce: closing coordinator connection", "error", cerr)
		}
		fallthrough
	case kerr == sarama.ErrNotCoordinatorForConsumer, kerr == sarama.ErrConsumerCoordinatorNotAvailable:
		if rerr := refresh(); rerr != nil {
			c.log.Debug("produce: coordinator lookup failed", "error", rerr)
		}
	}
	return sent, err
}

func (c *coordinator) pause(ctx context.Context, n int) error {
	t := time.NewTimer(c.backoff.Delay(n))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-c.stop:
		return ErrClosed
	}
}

// retriableTxn reports whether a coordinator request that failed with err
// may succeed if sent again: connection failures, a coordinator loading,
// moving or busy ending the previous transaction, a timeout.
func retriableTxn(err error) bool {
	var kerr sarama.KError
	if !errors.As(err, &kerr) {
		return !errors.Is(err, sarama.ErrClosedClient) && !errors.Is(err, ErrClosed)
	}
	switch kerr {
	case sarama.ErrConcurrentTransactions, sarama.ErrOffsetsLoadInProgress,
		sarama.ErrNotCoordinatorForConsumer, sarama.ErrConsumerCoordinatorNotAvailable,
		sarama.ErrRequestTimedOut, sarama.ErrNetworkException,
		sarama.ErrUnknownTopicOrPartition, sarama.ErrOperationNotAttempted,
		sarama.ErrLeaderNotAvailable, sarama.ErrNotLeaderForPartition:
		return true
	}
	return false
}

func kerrOrNil(k sarama.KError) error {
	if k == sarama.ErrNoError {
		return nil
	}
	return k
}
