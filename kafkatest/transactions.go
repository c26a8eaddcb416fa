package kafkatest

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Txn is one transaction for [Cluster.WriteTransactions]: record values
// by partition, then a commit or an abort.
type Txn struct {
	Records map[int32][]string
	Commit  bool
}

// WriteTransactions writes txns to topic in order, through one franz-go
// producer with transactional ID txnID, as a transactional producer of
// another application would. Every transaction ends (commit or abort)
// before the next begins, so each partition it touched gets a transaction
// marker after its records.
func (c *Cluster) WriteTransactions(ctx context.Context, topic, txnID string, txns []Txn) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cl, err := kgo.NewClient(c.kgoOpts(
		kgo.TransactionalID(txnID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(10*time.Second),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for i, txn := range txns {
		if err := cl.BeginTransaction(); err != nil {
			return fmt.Errorf("kafkatest: transaction %d: begin: %w", i, err)
		}
		var recs []*kgo.Record
		for p, values := range txn.Records {
			for _, v := range values {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("kafkatest: transaction %d: produce: %w", i, err)
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(txn.Commit)); err != nil {
			return fmt.Errorf("kafkatest: transaction %d: end: %w", i, err)
		}
	}
	return nil
}

// MixedTransactions returns the transactional input of the fault matrix:
// four transactions over partitions 0 to 2, two committed and two
// aborted, partition 2 written only by the aborted ones. Values of
// committed records start with "c", of aborted ones with "a"; tag makes
// them unique across calls.
func MixedTransactions(tag string) []Txn {
	v := func(kind string, p, i int) string { return fmt.Sprintf("%s%s-p%d-%d", kind, tag, p, i) }
	return []Txn{
		{Records: map[int32][]string{0: {v("c", 0, 0), v("c", 0, 1)}, 1: {v("c", 1, 0)}}, Commit: true},
		{Records: map[int32][]string{0: {v("a", 0, 0)}, 2: {v("a", 2, 0), v("a", 2, 1)}}},
		{Records: map[int32][]string{1: {v("c", 1, 1), v("c", 1, 2)}, 0: {v("c", 0, 2)}}, Commit: true},
		{Records: map[int32][]string{2: {v("a", 2, 2)}, 1: {v("a", 1, 0)}}},
	}
}

// CommittedValues lists the values of the records of the committed
// transactions of txns.
func CommittedValues(txns []Txn) []string {
	var out []string
	for _, txn := range txns {
		if txn.Commit {
			for _, vs := range txn.Records {
				out = append(out, vs...)
			}
		}
	}
	return out
}
