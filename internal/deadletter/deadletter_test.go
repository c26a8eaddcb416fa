package deadletter_test

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/deadletter"
	"github.com/stretchr/testify/assert"
)

func header(t *testing.T, m *bulwark.Message, key string) string {
	t.Helper()
	v, ok := m.Header(key)
	if !ok {
		t.Fatalf("header %s missing", key)
	}
	return string(v)
}

func TestRecordKeepsOriginalAndNamesTheFailure(t *testing.T) {
	ts := time.UnixMilli(1_700_000_000_123)
	src := &bulwark.Message{Topic: "orders", Partition: 4, Offset: 99, Key: []byte("k"), Value: []byte("v"),
		Timestamp: ts, Attempt: 3, Headers: []bulwark.Header{{Key: "trace", Value: []byte("t1")}}}
	dl := deadletter.Record("orders.dlt", "payments", src, bulwark.Permanent(errors.New("bad amount")), 1)

	assert.Equal(t, "orders.dlt", dl.Topic)
	assert.Equal(t, "k", string(dl.Key))
	assert.Equal(t, "v", string(dl.Value))
	assert.Equal(t, "t1", header(t, dl, "trace"))
	assert.Equal(t, "orders", header(t, dl, bulwark.HeaderDLTTopic))
	assert.Equal(t, "4", header(t, dl, bulwark.HeaderDLTPartition))
	assert.Equal(t, "99", header(t, dl, bulwark.HeaderDLTOffset))
	assert.Equal(t, "bad amount", header(t, dl, bulwark.HeaderDLTError))
	assert.Equal(t, "permanent", header(t, dl, bulwark.HeaderDLTErrorClass))
	assert.Equal(t, "1", header(t, dl, bulwark.HeaderDLTAttempts))
	assert.Equal(t, "1700000000123", header(t, dl, bulwark.HeaderDLTOriginalTimestamp))
	assert.Equal(t, "payments", header(t, dl, bulwark.HeaderDLTGroup))
	assert.Zero(t, dl.Attempt)

	// The source record is untouched.
	assert.Equal(t, "orders", src.Topic)
	assert.Len(t, src.Headers, 1)
	dl.Value[0] = 'X'
	assert.Equal(t, "v", string(src.Value))
}

func TestRecordOfRetryableError(t *testing.T) {
	dl := deadletter.Record("t.dlt", "", &bulwark.Message{Topic: "t"}, errors.New("timeout"), 5)
	assert.Equal(t, "retryable", header(t, dl, bulwark.HeaderDLTErrorClass))
	assert.Equal(t, "5", header(t, dl, bulwark.HeaderDLTAttempts))
	_, ok := dl.Header(bulwark.HeaderDLTOriginalTimestamp)
	assert.False(t, ok, "no timestamp header for a record without a timestamp")
	_, ok = dl.Header(bulwark.HeaderDLTGroup)
	assert.False(t, ok, "no group header where no group is known")
}
