package producer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKeysLandWhereTheJavaClientPutsThem checks, on a real topic, that a
// keyed record goes to toPositive(murmur2(key)) % partitions, as with the
// Java client's default partitioner. Expected partitions come from two
// sources independent of sarama: Kafka's published murmur2 reference
// values (UtilsTest.testMurmur2) and franz-go's Java-compatible key
// partitioner for many more keys.
func TestKeysLandWhereTheJavaClientPutsThem(t *testing.T) {
	const topic, partitions = "java-compat", 12
	c := kafkatest.NewCluster(t, kafkatest.WithTopic(topic, partitions))
	p := newProducer(t, c)
	ctx := ctxFor(t, 30*time.Second)

	reference := map[string]int32{ // Utils.murmur2 as Java ints
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for key, hash := range reference {
		res, err := p.Send(ctx, &bulwark.Message{Topic: topic, Key: []byte(key), Value: []byte(key)})
		require.NoError(t, err)
		want := int32(uint32(hash)&0x7fffffff) % partitions
		assert.Equal(t, want, res.Partition, "key %q", key)
	}

	javaLike := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	want := map[string]int32{}
	for i := range 300 {
		key := fmt.Sprintf("customer-%d", i)
		want[key] = int32(javaLike.Partition(&kgo.Record{Key: []byte(key)}, partitions))
		_, err := p.Send(ctx, &bulwark.Message{Topic: topic, Key: []byte(key), Value: []byte(key)})
		require.NoError(t, err)
	}
	for _, r := range readTopic(t, c, topic) {
		if w, ok := want[string(r.Key)]; ok {
			assert.Equal(t, w, r.Partition, "key %q", r.Key)
			delete(want, string(r.Key))
		}
	}
	assert.Empty(t, want, "every keyed record read back")
}
