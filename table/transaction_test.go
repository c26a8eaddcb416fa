package table_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/bulwarkgo/bulwark/producer"
	"github.com/bulwarkgo/bulwark/table"
)

// TestRestoreWaitsForOpenTransaction opens a table while a transaction
// writing to its topic is open: the restore reads everything committed,
// finds itself held below its end by the transaction, and is not ready
// until the transaction ends. A commit brings its records in, an abort
// leaves them out.
func TestRestoreWaitsForOpenTransaction(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
			c := newCompactedCluster(t, 1, 1)
			ctx := testContext(t)
			before := newWorkload("stock", 200, 20, 2)
			write(t, newProducer(t, c), before.msgs)

			tp, err := producer.NewTransactional(c.Brokers(), "stock-writer")
			if err != nil {
				t.Fatal(err)
			}
			defer tp.Close()
			sent, release := make(chan struct{}), make(chan struct{})
			txnDone := make(chan error, 1)
			go func() {
				txnDone <- tp.InTransaction(ctx, func(ctx context.Context, tx *producer.Txn) error {
					w, err := table.NewWriter(tx, "stock")
					if err != nil {
						return err
					}
					for i := range 5 {
						if _, err := w.Put(ctx, fmt.Appendf(nil, "txn-%d", i), []byte("in txn")); err != nil {
							return err
						}
					}
					if _, err := w.Delete(ctx, []byte("key-000001")); err != nil {
						return err
					}
					close(sent)
					<-release
					if !commit {
						return errAbort
					}
					return nil
				})
			}()
			select {
			case <-sent:
			case err := <-txnDone:
				t.Fatalf("transaction ended before it was held open: %v", err)
			}

			probes := make(chan int64, 1)
			tb := open(t, c, "stock", table.WithProbeHook(func(_ int32, next int64) {
				select {
				case probes <- next:
				default:
				}
			}))
			// Wait for a probe that finds the restore held below its end:
			// everything committed is applied by then.
			for held := false; !held; {
				select {
				case next := <-probes:
					end := tb.Progress().Partitions[0].RestoreEnd
					held = end > 0 && next < end && tb.Progress().Partitions[0].Position == next
				case <-ctx.Done():
					t.Fatalf("no probe found the restore held: %+v", tb.Progress())
				}
			}
			select {
			case <-tb.Ready():
				t.Fatal("table ready while a transaction below its restore end is open")
			default:
			}
			if p := tb.Progress(); p.Ready || p.Restored != 0 {
				t.Fatalf("progress says restored while held: %+v", p)
			}
			requireView(t, tb, before.model)

			close(release)
			if err := <-txnDone; commit && err != nil || !commit && !errors.Is(err, errAbort) {
				t.Fatalf("transaction: %v", err)
			}
			waitReady(t, tb)
			want := before.model
			if commit {
				for i := range 5 {
					want[fmt.Sprintf("txn-%d", i)] = []byte("in txn")
				}
				delete(want, "key-000001")
			}
			requireView(t, tb, want)
		})
	}
}

var errAbort = errors.New("test: abort the transaction")
