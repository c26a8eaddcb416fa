package saramax

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Records from one slab are distinct, carry every field of the consumed
// record, and skip nil headers; a record's block outlives the slab's move
// to the next block.
func TestMessageSlabConvertsEveryField(t *testing.T) {
	var slab MessageSlab
	at := time.UnixMilli(1_700_000_000_000)
	var got []*bulwark.Message
	for i := range slabRecords*2 + 1 {
		cm := &sarama.ConsumerMessage{
			Topic: "t", Partition: 3, Offset: int64(i), Key: []byte("k"), Value: []byte{byte(i)}, Timestamp: at,
			Headers: []*sarama.RecordHeader{{Key: []byte("h"), Value: []byte("v")}, nil},
		}
		got = append(got, slab.FromConsumerMessage(cm))
	}
	for i, m := range got {
		require.Equal(t, int64(i), m.Offset, "record %d was overwritten by a later one", i)
		assert.Equal(t, "t", m.Topic)
		assert.Equal(t, int32(3), m.Partition)
		assert.Equal(t, []byte("k"), m.Key)
		assert.Equal(t, []byte{byte(i)}, m.Value)
		assert.True(t, m.Timestamp.Equal(at))
		assert.Equal(t, []bulwark.Header{{Key: "h", Value: []byte("v")}}, m.Headers)
		assert.Zero(t, m.Attempt)
	}
	bare := slab.FromConsumerMessage(&sarama.ConsumerMessage{Topic: "t"})
	assert.Nil(t, bare.Headers)
	assert.Nil(t, bare.Key)
}
