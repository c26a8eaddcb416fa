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
