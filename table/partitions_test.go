package table_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/table"
)

// TestPartitionsRestoresOnlyThose: a table of some partitions holds
// exactly the keys written to them.
func TestPartitionsRestoresOnlyThose(t *testing.T) {
	c := newCompactedCluster(t, 3, 6)
	write(t, newProducer(t, c), newWorkload("stock", 3000, 300, 8).msgs)
	recs, err := c.ReadTopic(testContext(t), "stock")
	if err != nil {
		t.Fatal(err)
	}
	model := modelByPartition(recs)[0]
	for k, v := range modelByPartition(recs)[4] {
		model[k] = v
	}
	tb := open(t, c, "stock", table.WithPartitions(4, 0, 4))
	waitReady(t, tb)
	requireView(t, tb, model)
	if p := tb.Progress(); len(p.Partitions) != 2 || p.Partitions[0].Partition != 0 || p.Partitions[1].Partition != 4 {
		t.Errorf("partitions in progress: %+v", p.Partitions)
	}
	if _, err := table.Open(testContext(t), c.Brokers(), "stock", table.WithPartitions(6)); !errors.Is(err, table.ErrInvalidConfig) {
		t.Errorf("Open with partition 6 of 6: %v, want ErrInvalidConfig", err)
	}
}

// blockedDecoder never decodes: the registry stays down.
type blockedDecoder struct{}

func (blockedDecoder) Deserialize(context.Context, string, bool, []byte) (any, error) {
	return nil, bulwark.Pause(errors.New("registry down"), 0)
}

// TestCloseWhileRestoring: Close ends a restore that cannot finish, and
// WaitReady then reports the table closed; WaitReady honours its context.
func TestCloseWhileRestoring(t *testing.T) {
	c := newCompactedCluster(t, 1, 1)
	w := newWriter(t, c, "stock")
	put(t, w, "k", "v")
	tb := open(t, c, "stock", table.WithDecoder(blockedDecoder{}))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tb.WaitReady(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitReady with a cancelled context: %v", err)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tb.WaitReady(testContext(t)); !errors.Is(err, bulwark.ErrClosed) {
		t.Errorf("WaitReady after Close: %v, want ErrClosed", err)
	}
	if p := tb.Progress(); p.Ready || p.Records != 0 {
		t.Errorf("progress %+v, want nothing applied", p)
	}
}
