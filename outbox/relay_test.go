package outbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/servicetest"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/bulwarkgo/bulwark/outbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Committed rows are published once each, in order per key, with their
// headers and message IDs; rolled-back ones never.
func TestRelayPublishesCommittedRows(t *testing.T) {
	db := servicetest.Postgres(t)
	ob := newTable(t, db)
	c := kafkatest.NewCluster(t, kafkatest.WithTopic("events", 3))
	want := map[string][]string{}
	for i := range 50 {
		key := fmt.Sprintf("k%d", i%7)
		m := msg("events", key, i)
		if i == 3 {
			m.SetHeader(bulwark.HeaderMessageID, []byte("given-id"))
		}
		place(t, db, ob, true, m)
		want[key] = append(want[key], string(m.Value))
	}
	place(t, db, ob, false, msg("events", "k1", 1000), msg("events", "k2", 1001))

	r, err := outbox.NewRelay(db, newProducer(t, c), c.Brokers(), outbox.WithTable(ob.Table()),
		outbox.WithConnection(c.ConnOptions()...), outbox.WithPollInterval(20*time.Millisecond), outbox.WithBatchSize(8))
	require.NoError(t, err)
	stop := runRelay(t, r)
	waitDrained(t, db, ob, 20*time.Second, r)
	stop()

	recs, err := c.ReadTopic(ctxFor(t, 30*time.Second), "events")
	require.NoError(t, err)
	checkExactlyOnce(t, recs, want)
	ids := map[string]bool{}
	for _, m := range recs {
		ids[m.MessageID()] = true
		seq, _ := m.Header("seq")
		assert.NotEmpty(t, seq, "headers kept")
		if string(m.Value) == "k3/3" {
			assert.Equal(t, "given-id", m.MessageID(), "a given message ID is kept")
		}
	}
	assert.Len(t, ids, 50, "unique message IDs")
	st := r.Stats()
	assert.EqualValues(t, 50, st.Published)
	assert.Zero(t, st.Reconciles, "a clean run reconciles nothing")
	assert.Equal(t, outbox.StateStopped, st.State)
}
