package saramax

import (
	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
)

// MessageSlab hands out records from blocks allocated together: one
// allocation per block instead of one per record, which at millions of
// records/s is a measurable share of the CPU. A record kept by a handler
// keeps its block (a few KiB) alive, no more. Not safe for concurrent use.
type MessageSlab struct{ free []bulwark.Message }

const slabRecords = 32

// FromConsumerMessage converts a consumed record, taking it from the
// slab. Byte slices are shared, not copied: sarama does not reuse them.
func (s *MessageSlab) FromConsumerMessage(cm *sarama.ConsumerMessage) *bulwark.Message {
	if len(s.free) == 0 {
		s.free = make([]bulwark.Message, slabRecords)
	}
	m := &s.free[0]
	s.free = s.free[1:]
	fillFromConsumerMessage(m, cm)
	return m
}

// fillFromConsumerMessage sets m, which is zero (fresh from a slab), from
// cm. Field by field: assigning a whole Message would write every field,
// with a write barrier for each pointer while the collector runs.
func fillFromConsumerMessage(m *bulwark.Message, cm *sarama.ConsumerMessage) {
	m.Topic = cm.Topic
	m.Partition = cm.Partition
	m.Offset = cm.Offset
	m.Key = cm.Key
	m.Value = cm.Value
	m.Timestamp = cm.Timestamp
	if len(cm.Headers) > 0 {
		m.Headers = make([]bulwark.Header, 0, len(cm.Headers))
		for _, h := range cm.Headers {
			if h == nil {
				continue
			}
			m.Headers = append(m.Headers, bulwark.Header{Key: string(h.Key), Value: h.Value})
		}
	}
}

// ToProducerMessage converts a record to produce. Partition is copied;
// whether it is honoured depends on the partitioner the caller configured.
// A nil key stays nil (no key), an empty one stays empty.
func ToProducerMessage(m *bulwark.Message) *sarama.ProducerMessage {
	pm := &sarama.ProducerMessage{
		Topic:     m.Topic,
		Partition: m.Partition,
		Timestamp: m.Timestamp,
	}
	if m.Key != nil {
		pm.Key = sarama.ByteEncoder(m.Key)
	}
	if m.Value != nil {
		pm.Value = sarama.ByteEncoder(m.Value)
	}
	if len(m.Headers) > 0 {
		pm.Headers = make([]sarama.RecordHeader, len(m.Headers))
		for i, h := range m.Headers {
			pm.Headers[i] = sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
		}
	}
	return pm
}
