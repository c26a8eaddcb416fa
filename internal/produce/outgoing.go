package produce

import (
	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
)

// messageIDKey is shared by every record: the engine only reads header keys.
var messageIDKey = []byte(bulwark.HeaderMessageID)

// Outgoing holds the headers of one record in the engine's form. Callers
// embed it in their own per-record state, so that a record with up to two
// headers (a message ID and a traceparent) costs no allocation for them.
type Outgoing struct {
	headers [2]sarama.RecordHeader
	ptrs    [2]*sarama.RecordHeader
}

// Record returns msg as a Record, with the added headers after msg's own.
// The Record points into o and shares msg's key, value and header bytes:
// neither may change until the record's callback has run. msg itself is
// not modified.
func (o *Outgoing) Record(msg *bulwark.Message, added []bulwark.Header) Record {
	r := Record{Topic: msg.Topic, Key: msg.Key, Value: msg.Value, Partition: msg.Partition, Timestamp: msg.Timestamp}
	n := len(msg.Headers) + len(added)
	if n == 0 {
		return r
	}
	hs, ps := o.headers[:0], o.ptrs[:0]
	if n > len(o.headers) {
		hs, ps = make([]sarama.RecordHeader, 0, n), make([]*sarama.RecordHeader, 0, n)
	}
	for _, h := range msg.Headers {
		hs = append(hs, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	for _, h := range added {
		key := messageIDKey
		if h.Key != bulwark.HeaderMessageID {
			key = []byte(h.Key)
		}
		hs = append(hs, sarama.RecordHeader{Key: key, Value: h.Value})
	}
	for i := range hs {
		ps = append(ps, &hs[i])
	}
	r.Headers = ps
	return r
}
