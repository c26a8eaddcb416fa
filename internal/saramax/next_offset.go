package saramax

import (
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/IBM/sarama"
)

// Offsets that hold no record a consumer receives: transaction markers
// (control records) always, and records of aborted transactions under
// read_committed. sarama's consumer reads past them without a word, so
// a consumer that commits "one past the last record it handled" stays one
// short of the end after every transaction, and never commits a partition
// whose records were all aborted. NextDelivered finds how far such
// offsets reach.

// probeFetchBytes bounds one probe's fetch; a partition's first batch is
// returned whole even when larger (KIP-74), so a probe always advances.
const probeFetchBytes = 1 << 20

// probeFetches bounds the fetches of one NextDelivered call: a long run of
// aborted batches is skipped over several calls.
const probeFetches = 8

// NextDelivered returns the offset of the first record at or after from
// that a consumer configured like client would deliver, or, when there is
// none, the end of what it can read (the high watermark, or the last
// stable offset under read_committed). Offsets in between hold only
// control records or, under read_committed, aborted records, so a
// consumer that handled everything before from may commit the result.
// from may be sarama.OffsetOldest (nothing consumed yet); any other
// negative from is returned as it is.
//
// The fetch it sends does not wait (MaxWaitTime 0) and goes to the
// partition's leader over client's connection; like sarama's calls it
// takes no context: a caller that must be bounded runs it aside.
func NextDelivered(client sarama.Client, topic string, partition int32, from int64) (int64, error) {
	cfg := client.Config()
	if !cfg.Version.IsAtLeast(sarama.V0_11_0_0) {
		return from, nil // no transactions, no control records
	}
	if from == sarama.OffsetOldest {
		oldest, err := client.GetOffset(topic, partition, sarama.OffsetOldest)
		if err != nil {
			return from, fmt.Errorf("oldest offset of %s/%d: %w", topic, partition, err)
		}
		from = oldest
	}
	if from < 0 {
		return from, nil
	}
	next := from
	for range probeFetches {
		block, err := probeFetch(client, topic, partition, next)
		if err != nil {
			return from, err
		}
		end := block.HighWaterMarkOffset
		if cfg.Consumer.IsolationLevel == sarama.ReadCommitted && block.LastStableOffset >= 0 {
			end = block.LastStableOffset
		}
		skipTo, delivered := skippable(block, next, cfg.Consumer.IsolationLevel == sarama.ReadCommitted)
		if delivered {
			return skipTo, nil
		}
		if skipTo >= end {
			// What the fetch returns ends at end; never report past it.
			return max(next, end), nil
		}
		if skipTo <= next {
			// Nothing decodable at next (a partial batch, an empty
			// answer): stop where we know.
			return next, nil
		}
		next = skipTo
	}
	return next, nil
}

func probeFetch(client sarama.Client, topic string, partition int32, offset int64) (*sarama.FetchResponseBlock, error) {
	leader, err := client.Leader(topic, partition)
	if err != nil {
		return nil, err
	}
	cfg := client.Config()
	req := &sarama.FetchRequest{MaxWaitTime: 0, MinBytes: 1, MaxBytes: probeFetchBytes, Isolation: cfg.Consumer.IsolationLevel}
	// Versions without topic IDs, which sarama's consumer uses too; 4 is
	// the first with the isolation level and the aborted transactions.
	switch {
	case cfg.Version.IsAtLeast(sarama.V2_3_0_0):
		req.Version = 11
		req.SessionID, req.SessionEpoch = 0, -1 // no fetch session
	default:
		req.Version = 4
	}
	req.AddBlock(topic, partition, offset, probeFetchBytes, -1)
	resp, err := leader.Fetch(req)
	if err != nil {
		// A broken connection: the next call dials again.
		_ = leader.Close()
		return nil, err
	}
	block := resp.GetBlock(topic, partition)
	if block == nil {
		return nil, sarama.ErrIncompleteResponse
	}
	if block.Err != sarama.ErrNoError {
		if block.Err == sarama.ErrNotLeaderForPartition || block.Err == sarama.ErrUnknownTopicOrPartition {
			_ = client.RefreshMetadata(topic)
		}
		return nil, block.Err
	}
	return block, nil
}

// skippable walks the batches of block from offset from, as sarama's
// consumer does, and returns how far they hold nothing it delivers: the
// offset of the first delivered record (delivered true) or the offset
// after the last skipped batch.
func skippable(block *sarama.FetchResponseBlock, from int64, readCommitted bool) (next int64, delivered bool) {
	next = from
	for b, deliver := range batches(block, from, readCommitted) {
		if b == nil {
			return next, true // legacy format: no transactions; delivered
		}
		if deliver {
			for _, r := range b.Records {
				if off := b.FirstOffset + r.OffsetDelta; off >= next {
					return off, true
				}
			}
			// Every record of the batch is before from (or compacted
			// away): nothing in it is delivered.
		}
		next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
	}
	return next, false
}

// batches yields, in offset order, the record batches of block that end
// at or after from, each with whether sarama's consumer delivers its
// records: never a transaction marker's (a control batch), and under
// read_committed not those of an aborted transaction (from the first
// offset the broker lists for it to its producer's abort marker). A
// non-empty legacy message set (a format without transactions) is yielded
// as a nil batch, delivered. It stops at a partial trailing batch, which
// a fetch from its offset returns whole.
func batches(block *sarama.FetchResponseBlock, from int64, readCommitted bool) iter.Seq2[*sarama.RecordBatch, bool] {
	return func(yield func(*sarama.RecordBatch, bool) bool) {
		// Producers whose aborted transaction has begun by the current
		// batch: their transactional batches are skipped until their
		// abort marker.
		aborted := map[int64]bool{}
		pending := append([]*sarama.AbortedTransaction(nil), block.AbortedTransactions...)
		sortAborted(pending)
		for _, recs := range block.RecordsSet {
			if recs == nil || recs.RecordBatch == nil {
				if recs != nil && recs.MsgSet != nil && len(recs.MsgSet.Messages) > 0 && !yield(nil, true) {
					return
				}
				continue
			}
			b := recs.RecordBatch
			if b.PartialTrailingRecord {
				return
			}
			last := b.FirstOffset + int64(b.LastOffsetDelta)
			for len(pending) > 0 && pending[0].FirstOffset <= last {
				aborted[pending[0].ProducerID] = true
				pending = pending[1:]
			}
			if last < from {
				continue // before from: already read
			}
			deliver := true
			switch {
			case b.Control:
				deliver = false
				if isAbortMarker(b) {
					delete(aborted, b.ProducerID)
				}
			case readCommitted && b.IsTransactional && aborted[b.ProducerID]:
				deliver = false
			}
			if !yield(b, deliver) {
				return
			}
		}
	}
}

// isAbortMarker reads a control batch's record key: version (int16), then
// type (int16: 0 abort, 1 commit).
func isAbortMarker(b *sarama.RecordBatch) bool {
	if len(b.Records) == 0 || len(b.Records[0].Key) < 4 {
		return false
	}
	return binary.BigEndian.Uint16(b.Records[0].Key[2:4]) == 0
}

func sortAborted(a []*sarama.AbortedTransaction) {
	// Brokers send them in order; a few entries at most, insertion sort.
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].FirstOffset < a[j-1].FirstOffset; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
