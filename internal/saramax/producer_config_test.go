package saramax_test

import (
	"math"
	"testing"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reference values of org.apache.kafka.common.utils.Utils.murmur2, from
// Apache Kafka's own unit test (clients/src/test/java/org/apache/kafka/
// common/utils/UtilsTest.java, testMurmur2), as Java ints.
var kafkaMurmur2 = []struct {
	key  []byte
	hash int32
}{
	{[]byte("21"), -973932308},
	{[]byte("foobar"), -790332482},
	{[]byte("a-little-bit-long-string"), -985981536},
	{[]byte("a-little-bit-longer-string"), -1486304829},
	{[]byte("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971},
	{[]byte{'a', 'b', 'c'}, 479470107},
}

func producerConfig(t *testing.T, ps saramax.ProducerSettings) *sarama.Config {
	t.Helper()
	s, err := conn.Build()
	require.NoError(t, err)
	ps.RetryMax, ps.RetryBackoff = 10, 1
	cfg, err := saramax.NewProducerConfig(s, ps)
	require.NoError(t, err)
	require.NoError(t, saramax.ValidateProducer(cfg))
	return cfg
}

// The Java client's default partitioner puts a key on
// toPositive(murmur2(key)) % numPartitions, toPositive being & 0x7fffffff.
// With numPartitions = MaxInt32 the configured partitioner therefore
// returns the positive hash itself, which must match Kafka's reference.
func TestDefaultPartitionerIsJavaMurmur2(t *testing.T) {
	cfg := producerConfig(t, saramax.ProducerSettings{})
	part := cfg.Producer.Partitioner("any-topic")
	for _, tc := range kafkaMurmur2 {
		positive := int32(uint32(tc.hash) & 0x7fffffff)
		got, err := part.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(tc.key)}, math.MaxInt32)
		require.NoError(t, err)
		assert.Equal(t, positive, got, "positive murmur2 of %q", tc.key)

		for _, n := range []int32{1, 3, 6, 12, 100} {
			got, err := part.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(tc.key)}, n)
			require.NoError(t, err)
			assert.Equal(t, positive%n, got, "partition of %q among %d", tc.key, n)
		}
	}
	assert.True(t, part.RequiresConsistency(), "a key keeps its partition while one is down, as in Java")
}

func TestManualPartitioningUsesTheRecordsPartition(t *testing.T) {
	cfg := producerConfig(t, saramax.ProducerSettings{ManualPartitioning: true})
	got, err := cfg.Producer.Partitioner("t").Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder("foobar"), Partition: 4}, 6)
	require.NoError(t, err)
	assert.Equal(t, int32(4), got)
}

func TestProducerConfigIsIdempotent(t *testing.T) {
	cfg := producerConfig(t, saramax.ProducerSettings{Compression: "zstd", Linger: 5, MaxBatchRecords: 7})
	assert.True(t, cfg.Producer.Idempotent)
	assert.Equal(t, sarama.WaitForAll, cfg.Producer.RequiredAcks)
	assert.Equal(t, 1, cfg.Net.MaxOpenRequests)
	assert.Equal(t, sarama.CompressionZSTD, cfg.Producer.Compression)
	assert.EqualValues(t, 5, cfg.Producer.Flush.Frequency)
	assert.Equal(t, 7, cfg.Producer.Flush.MaxMessages)

	s, err := conn.Build()
	require.NoError(t, err)
	_, err = saramax.NewProducerConfig(s, saramax.ProducerSettings{Compression: "brotli"})
	assert.ErrorContains(t, err, "brotli")

	cfg.Producer.Return.Successes = false
	assert.ErrorIs(t, saramax.ValidateProducer(cfg), conn.ErrInvalidSettings)
}
