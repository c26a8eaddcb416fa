package producer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func expiryOrder(e *expiry) (fwd, back []int64) {
	for r := e.head; r != nil; r = r.next {
		fwd = append(fwd, r.started)
	}
	for r := e.tail; r != nil; r = r.prev {
		back = append(back, r.started)
	}
	return fwd, back
}

func TestExpiryKeepsRecordsInStartOrderAndExpiresOnlyDueOnes(t *testing.T) {
	e := newExpiry(time.Second)
	assert.Equal(t, 50*time.Millisecond, e.tick)
	assert.Equal(t, int64(21), e.ticks, "never before the timeout: one tick more than it spans")

	recs := make([]*record, 5)
	for i := range recs {
		recs[i] = &record{}
	}
	// Racing senders may add out of stamp order.
	for i, stamp := range []int64{0, 2, 1, 3, 2} {
		e.add(recs[i], stamp)
	}
	fwd, back := expiryOrder(e)
	assert.Equal(t, []int64{0, 1, 2, 2, 3}, fwd)
	assert.Equal(t, []int64{3, 2, 2, 1, 0}, back)

	// A record the client settled leaves the list; one settled before it
	// was added never joins.
	recs[2].state.Store(recordSettled)
	e.remove(recs[2])
	late := &record{}
	late.state.Store(recordSettled)
	e.add(late, 0)
	fwd, _ = expiryOrder(e)
	assert.Equal(t, []int64{0, 2, 2, 3}, fwd)

	got, empty := e.due(e.ticks+1, nil) // stamps 0 and 1 are due
	require.Equal(t, []*record{recs[0]}, got, "stamp 1 was removed")
	assert.False(t, empty)
	assert.Equal(t, recordSettled, recs[0].state.Load())

	// The client settling a record at the same moment wins or loses the
	// race cleanly: a record already settled is unlinked but not returned.
	recs[1].state.Store(recordSettled)
	got, empty = e.due(e.ticks+3, nil)
	assert.Equal(t, []*record{recs[4], recs[3]}, got)
	assert.True(t, empty)
	assert.Nil(t, e.head)
	assert.Nil(t, e.tail)
}
