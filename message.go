package bulwark

import (
	"time"
)

// Well-known header names. Producers set HeaderMessageID on every record
// that lacks one; consumers and dedup use it as the default identity.
const (
	HeaderMessageID = "bulwark-message-id"
)

// Headers added to a dead-letter record, beside the original record's own
// key, value and headers.
//
// HeaderDLTGroup names the consumer group that gave up on the record (as
// Spring Kafka's original-consumer-group header does). Groups reading the
// same source topic share its default dead-letter topic "<topic>.dlt", so
// the header is how a reader of that topic tells whose dead letter it is
// (or give each group its own topic with the consumer's and eos's
// WithDeadLetterTopic). It is absent where no group is known, as in
// consumertest.
const (
	HeaderDLTTopic             = "bulwark-dlt-topic"              // source topic
	HeaderDLTPartition         = "bulwark-dlt-partition"          // source partition, decimal
	HeaderDLTOffset            = "bulwark-dlt-offset"             // source offset, decimal
	HeaderDLTError             = "bulwark-dlt-error"              // error text
	HeaderDLTErrorClass        = "bulwark-dlt-error-class"        // "permanent" or "retryable"
	HeaderDLTAttempts          = "bulwark-dlt-attempts"           // handler attempts, decimal
	HeaderDLTOriginalTimestamp = "bulwark-dlt-original-timestamp" // source record time, Unix ms
	HeaderDLTGroup             = "bulwark-dlt-group"              // consumer group that dead-lettered it
)

// Header is one Kafka record header. Kafka allows repeated keys, so headers
// are a slice, not a map.
type Header struct {
	Key   string
	Value []byte
}

// Message is a Kafka record as handlers and producers see it.
//
// For a consumed record every field is filled in by the consumer. For a
// record to produce, Topic and Value (and usually Key) are set by the caller;
// Partition is ignored unless the producer is told to honour it.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time

	// Attempt is the 1-based delivery attempt of this record within the
	// current consumer (1 on first delivery, 2 on the first retry, ...).
	// It is 0 for a record that has not been consumed.
	Attempt int
}

// Header returns the value of the last header named key, and whether one
// exists. The last one wins because later writers override earlier ones.
func (m *Message) Header(key string) ([]byte, bool) {
	for i := len(m.Headers) - 1; i >= 0; i-- {
		if m.Headers[i].Key == key {
			return m.Headers[i].Value, true
		}
	}
	return nil, false
}

// SetHeader replaces every header named key with a single one holding value.
func (m *Message) SetHeader(key string, value []byte) {
	kept := m.Headers[:0]
	for _, h := range m.Headers {
		if h.Key != key {
			kept = append(kept, h)
		}
	}
	m.Headers = append(kept, Header{Key: key, Value: value})
}

// MessageID returns the record's message-ID header, or "" if it has none.
func (m *Message) MessageID() string {
	v, _ := m.Header(HeaderMessageID)
	return string(v)
}

// Clone returns a deep copy, so the copy's key, value and headers can be
// changed without touching m.
func (m *Message) Clone() *Message {
	c := *m
	c.Key = cloneBytes(m.Key)
	c.Value = cloneBytes(m.Value)
	if m.Headers != nil {
		c.Headers = make([]Header, len(m.Headers))
		for i, h := range m.Headers {
			c.Headers[i] = Header{Key: h.Key, Value: cloneBytes(h.Value)}
		}
	}
	return &c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
