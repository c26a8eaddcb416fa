package produce_test

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/produce"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCompressedBatchesReadBack produces with each codec and reads the
// batches back twice: raw, to see that the broker stored them compressed
// with that codec (sarama decompressing), and with kafkatest's reader
// (franz-go's decoder), to see that another client reads every record
// intact, in order, with its headers.
func TestCompressedBatchesReadBack(t *testing.T) {
	codecs := map[string]sarama.CompressionCodec{
		"gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
		"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, 2))
			cl := newClient(t, c)
			e := newEngine(t, cl, produce.WithCompression(codec, sarama.CompressionLevelDefault), produce.WithLinger(5*time.Millisecond))
			tr := newTracker()
			keyedLoad(t, e, tr, topic, 2, 8, 50, nil)
			flushAll(t, e, tr)
			verify(t, cl, e, tr, topic, 2)
			for p := range int32(2) {
				for _, b := range readBatches(t, cl, topic, p) {
					assert.Equal(t, codec, b.codec, "partition %d batch at %d", p, b.baseOffset)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			recs, err := c.ReadTopic(ctx, topic)
			require.NoError(t, err)
			assert.Len(t, recs, 8*50)
		})
	}
}
