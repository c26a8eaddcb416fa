package produce

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

// The batch copies each record's headers into memory of its own; what it
// encodes must be what the records said, nil values (null on the wire)
// kept apart from empty ones, and the callers' memory no longer read.
func TestBatchCopiesHeaders(t *testing.T) {
	in := [][]*sarama.RecordHeader{
		nil, // none before the first with headers, and none after the last
		{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: nil}},
		nil,
		{{Key: []byte(""), Value: []byte{}}},
		{{Key: nil, Value: []byte("xyz")}, {Key: []byte("c"), Value: []byte("22")}, {Key: []byte("d"), Value: []byte("333")}},
		nil,
	}
	b := newBatch(&partition{topic: "t"}, time.Now())
	defer b.release()
	for _, hs := range in {
		r := Record{Topic: "t", Value: []byte("v"), Headers: hs}
		b.append(&r, time.Now(), r.size(), noCallback)
	}
	// The callers may reuse their memory once appended.
	for _, hs := range in {
		for _, h := range hs {
			for i := range h.Value {
				h.Value[i] = '!'
			}
		}
	}
	b.seal(1, 0, 0)
	b.seal(1, 0, 0) // a second seal (a new identity) keeps them
	want := [][]sarama.RecordHeader{
		nil,
		{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: nil}},
		nil,
		{{Key: []byte{}, Value: []byte{}}},
		{{Key: nil, Value: []byte("xyz")}, {Key: []byte("c"), Value: []byte("22")}, {Key: []byte("d"), Value: []byte("333")}},
		nil,
	}
	require.Len(t, b.rb.Records, len(want))
	for i, w := range want {
		got := b.rb.Records[i].Headers
		require.Len(t, got, len(w), "record %d", i)
		for j := range w {
			require.Equal(t, w[j].Key == nil, got[j].Key == nil, "record %d header %d key nil", i, j)
			require.Equal(t, w[j].Value == nil, got[j].Value == nil, "record %d header %d value nil", i, j)
			require.Equal(t, string(w[j].Key), string(got[j].Key), "record %d header %d", i, j)
			require.Equal(t, string(w[j].Value), string(got[j].Value), "record %d header %d", i, j)
		}
	}
}
