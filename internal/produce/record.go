package produce

import (
	"encoding/binary"
	"time"

	"github.com/IBM/sarama"
)

// Record is one record to produce. The engine keeps Key, Value and Headers
// until the record's callback has run; the caller must not change them
// before.
type Record struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []*sarama.RecordHeader
	// Partition is used only with WithManualPartitioning.
	Partition int32
	// Timestamp defaults to the time of Produce.
	Timestamp time.Time
}

// Callback receives a record's outcome: its partition and offset, or err.
// The offset is -1 when the broker acknowledged the record without saying
// where it is (DUPLICATE_SEQUENCE_NUMBER: a retry of a batch written long
// enough ago that the broker no longer remembers its offset).
// It runs on the engine's results goroutine (on the caller's, inside
// Produce, once the engine is closed), in produce order per partition,
// exactly once per record; it must not block for long, and must not call
// Flush or Close.
type Callback func(partition int32, offset int64, err error)

// Receiver is a Callback as a method: a caller's per-record state that
// implements it is handed to ProduceTo as is, where a method value would
// cost a closure allocation per record. The same rules apply.
type Receiver interface {
	Delivered(partition int32, offset int64, err error)
}

// Delivered calls cb; a func value fits an interface without allocating.
func (cb Callback) Delivered(partition int32, offset int64, err error) { cb(partition, offset, err) }

// noCallback receives outcomes nobody asked for.
var noCallback Receiver = Callback(func(int32, int64, error) {})

// recordOverhead bounds the encoded size of a record beyond its key, value
// and headers: length, attributes, timestamp and offset deltas, key and
// value lengths, header count.
const recordOverhead = 5*binary.MaxVarintLen32 + binary.MaxVarintLen64 + 1

func (r *Record) size() int {
	n := recordOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 2*binary.MaxVarintLen32
	}
	return n
}

// keyEncoder lets sarama's partitioner read a key without boxing a new
// sarama.ByteEncoder per record: the engine keeps one and points it at
// each key under its lock.
type keyEncoder struct{ b []byte }

func (k *keyEncoder) Encode() ([]byte, error) { return k.b, nil }
func (k *keyEncoder) Length() int             { return len(k.b) }
