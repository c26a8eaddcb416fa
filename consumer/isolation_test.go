package consumer

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceTxn writes values in one transaction of a franz-go transactional
// producer and commits or aborts it.
func produceTxn(t *testing.T, cl *kafkatest.Cluster, topic, txnID string, commit bool, values ...string) {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(cl.Brokers()...), kgo.DefaultProduceTopic(topic), kgo.TransactionalID(txnID))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := client.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := client.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// By default the handler never sees records of aborted transactions;
// WithReadCommitted(false) opts out and then it does.
func TestReadCommittedByDefault(t *testing.T) {
	for name, tc := range map[string]struct {
		opts []Option
		want []string
	}{
		"default":            {nil, []string{"c1", "c2", "plain", "c3"}},
		"read uncommitted":   {[]Option{WithReadCommitted(false)}, []string{"a1", "a2", "c1", "c2", "plain", "a3", "c3"}},
		"read committed set": {[]Option{WithReadCommitted(true)}, []string{"c1", "c2", "plain", "c3"}},
	} {
		t.Run(name, func(t *testing.T) {
			cl := newCluster(t, map[string]int32{"in": 1})
			produceTxn(t, cl, "in", "tx-a", false, "a1", "a2")
			produceTxn(t, cl, "in", "tx-c", true, "c1", "c2")
			produceValues(t, cl, "in", 1, nil, func(int) []byte { return []byte("plain") })
			produceTxn(t, cl, "in", "tx-a", false, "a3")
			produceTxn(t, cl, "in", "tx-c", true, "c3")
			rec := newRecorder(nil)
			c, err := New(cl.Brokers(), "g-iso", []string{"in"}, rec, fastOpts(cl, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			stop := runConsumer(t, c)
			waitFor(t, 20*time.Second, "c3", func() bool {
				rec.mu.Lock()
				defer rec.mu.Unlock()
				return rec.seen["c3"] > 0
			})
			// c3 is the last data record: its offset committed means
			// nothing before it is still on its way.
			var lastOffset int64
			rec.mu.Lock()
			for _, m := range rec.order {
				if string(m.Value) == "c3" {
					lastOffset = m.Offset
				}
			}
			rec.mu.Unlock()
			waitFor(t, 10*time.Second, "commit past c3", func() bool { return committed(t, cl, "g-iso", "in")[0] == lastOffset+1 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range rec.order {
				got = append(got, string(m.Value))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("handled %v, want %v", got, tc.want)
			}
		})
	}
}
