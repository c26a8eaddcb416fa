package eos_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// produceInputs writes n keyed records to topic: key "k<i%keys>", value
// "<key>:<seq of that key>".
func produceInputs(t testing.TB, c *kafkatest.Cluster, topic string, n, keys int) {
	t.Helper()
	require.NoError(t, produceRange(c, topic, 0, n, keys))
}

// produceRange writes records from..to-1 of the sequence produceInputs
// writes.
func produceRange(c *kafkatest.Cluster, topic string, from, to, keys int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		k := fmt.Sprintf("k%03d", i%keys)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(fmt.Sprintf("%s:%06d", k, i/keys))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for start := 0; start < len(recs); start += 5000 {
		end := min(start+5000, len(recs))
		if err := cl.ProduceSync(ctx, recs[start:end]...).FirstErr(); err != nil {
			return err
		}
	}
	return nil
}

// inputID names an input record in the outputs: "topic/partition/offset".
func inputID(m *bulwark.Message) string {
	return fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset)
}

// copyHandler emits one output per input to outTopic, with the input's
// identity in a header, so outputs can be matched to inputs.
func copyOutput(in *bulwark.Message, outTopic string) *bulwark.Message {
	return &bulwark.Message{
		Topic:   outTopic,
		Key:     in.Key,
		Value:   in.Value,
		Headers: []bulwark.Header{{Key: "in", Value: []byte(inputID(in))}},
	}
}

// checkExactlyOnce asserts that every input of inTopic has exactly one
// committed record in the union of outTopics (matched by the "in" header),
// that outputs of each key are in input order, and that the committed
// offsets of group are at the end of every input partition. It returns the
// number of outputs per topic.
func checkExactlyOnce(t *testing.T, c *kafkatest.Cluster, group, inTopic string, outTopics ...string) map[string]int {
	t.Helper()
	ctx := context.Background()
	inputs, err := c.ReadTopic(ctx, inTopic)
	require.NoError(t, err)
	want := map[string]bool{}
	for _, m := range inputs {
		want[inputID(m)] = true
	}
	seen := map[string]int{}
	counts := map[string]int{}
	for _, topic := range outTopics {
		outs, err := c.ReadTopic(ctx, topic, kafkatest.ReadCommitted())
		require.NoError(t, err)
		counts[topic] = len(outs)
		lastSeq := map[string]string{}
		for _, m := range outs {
			var id string
			if v, ok := m.Header("in"); ok {
				id = string(v)
			} else if v, ok := m.Header(bulwark.HeaderDLTOffset); ok {
				tp, _ := m.Header(bulwark.HeaderDLTTopic)
				p, _ := m.Header(bulwark.HeaderDLTPartition)
				id = fmt.Sprintf("%s/%s/%s", tp, p, v)
			}
			require.NotEmpty(t, id, "output without input identity in %s", topic)
			seen[id]++
			// Values are "<key>:<seq>" with fixed width: order per key
			// within one output partition must follow input order.
			k := string(m.Key) + "@" + fmt.Sprint(m.Partition)
			if prev, ok := lastSeq[k]; ok && topic == outTopics[0] {
				require.Less(t, prev, string(m.Value), "key %s out of order in %s", m.Key, topic)
			}
			lastSeq[k] = string(m.Value)
		}
	}
	var missing, dups []string
	for id := range want {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range seen {
		if n > 1 || !want[id] {
			dups = append(dups, fmt.Sprintf("%s x%d", id, n))
		}
	}
	sort.Strings(missing)
	sort.Strings(dups)
	require.Empty(t, missing, "%d inputs without output", len(missing))
	require.Empty(t, dups, "%d duplicated or unknown outputs", len(dups))

	ends, err := c.EndOffsets(ctx, inTopic, false)
	require.NoError(t, err)
	committed, err := c.CommittedOffsets(ctx, group, inTopic)
	require.NoError(t, err)
	for p, end := range ends {
		if end == 0 {
			continue
		}
		require.Equal(t, end, committed[p], "committed offset of %s/%d", inTopic, p)
	}
	counts[inTopic] = len(inputs)
	return counts
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metricsReader is a meter provider whose counters a test can read.
type metricsReader struct {
	r  *sdkmetric.ManualReader
	mp *sdkmetric.MeterProvider
}

func newMetrics() *metricsReader {
	r := sdkmetric.NewManualReader()
	return &metricsReader{r: r, mp: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))}
}

// metrics collects and returns the metrics called name.
func (m *metricsReader) metrics(t testing.TB, name string) []metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, m.r.Collect(context.Background(), &rm))
	var out []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name == name {
				out = append(out, mt)
			}
		}
	}
	return out
}

// sum returns the total of counter name over data points whose attributes
// include every key=value of match.
func (m *metricsReader) sum(t testing.TB, name string, match ...string) int64 {
	t.Helper()
	var total int64
	for _, mt := range m.metrics(t, name) {
		s, ok := mt.Data.(metricdata.Sum[int64])
		if !ok {
			continue
		}
		for _, dp := range s.DataPoints {
			if attrsMatch(dp.Attributes, match) {
				total += dp.Value
			}
		}
	}
	return total
}

// histogram is what a histogram recorded over the matching data points.
type histogram struct {
	count    uint64
	sum      float64
	min, max float64 // valid when count > 0
}

// hist returns histogram name (int64 or float64) over data points whose
// attributes include every key=value of match.
func (m *metricsReader) hist(t testing.TB, name string, match ...string) histogram {
	t.Helper()
	var h histogram
	for _, mt := range m.metrics(t, name) {
		switch d := mt.Data.(type) {
		case metricdata.Histogram[int64]:
			for _, dp := range d.DataPoints {
				if attrsMatch(dp.Attributes, match) {
					h.add(dp.Count, float64(dp.Sum), extrema(dp.Min), extrema(dp.Max))
				}
			}
		case metricdata.Histogram[float64]:
			for _, dp := range d.DataPoints {
				if attrsMatch(dp.Attributes, match) {
					h.add(dp.Count, dp.Sum, extrema(dp.Min), extrema(dp.Max))
				}
			}
		default:
			t.Fatalf("metric %s is a %T, not a histogram", name, mt.Data)
		}
	}
	return h
}

func (h *histogram) add(count uint64, sum, lo, hi float64) {
	if count == 0 {
		return
	}
	if h.count == 0 || lo < h.min {
		h.min = lo
	}
	if h.count == 0 || hi > h.max {
		h.max = hi
	}
	h.count += count
	h.sum += sum
}

func extrema[N int64 | float64](e metricdata.Extrema[N]) float64 {
	v, _ := e.Value()
	return float64(v)
}

func attrsMatch(set attribute.Set, match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		v, ok := set.Value(attribute.Key(match[i]))
		if !ok || v.AsString() != match[i+1] {
			return false
		}
	}
	return true
}
