package table

import (
	"context"
	"errors"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/producer"
)

// ErrNilKey: a table update needs a key (compacted topics reject records
// without one). It is permanent-class: an eos handler returning it
// dead-letters its input rather than retrying it.
var ErrNilKey = bulwark.Permanent(errors.New("table: nil key"))

// Writer writes updates of a table's topic: values and tombstones, keyed
// so that the producer's partitioner puts every update of a key on the
// same partition. It is safe for concurrent use when its sender is.
type Writer struct {
	sender producer.Sender
	topic  string
}

// NewWriter returns a writer sending to topic through s: a
// *producer.Producer (idempotent), or a *producer.Txn to write updates in
// a transaction with other records.
func NewWriter(s producer.Sender, topic string) (*Writer, error) {
	switch {
	case s == nil:
		return nil, invalidConfig("sender is nil")
	case topic == "":
		return nil, invalidConfig("no topic")
	}
	return &Writer{sender: s, topic: topic}, nil
}

// Put writes value for key and returns once the cluster acknowledged it
// (see producer.Producer.Send). A nil value is written as an empty one,
// not as a tombstone: use Delete to delete.
func (w *Writer) Put(ctx context.Context, key, value []byte) (producer.Result, error) {
	if key == nil {
		return producer.Result{}, ErrNilKey
	}
	return w.sender.Send(ctx, Update(w.topic, key, value))
}

// Delete writes a tombstone for key: the table drops the key, and the
// broker's compaction removes its earlier values (and, after the topic's
// delete.retention.ms, the tombstone itself).
func (w *Writer) Delete(ctx context.Context, key []byte) (producer.Result, error) {
	if key == nil {
		return producer.Result{}, ErrNilKey
	}
	return w.sender.Send(ctx, Tombstone(w.topic, key))
}

// Update returns the record that sets key to value in the table of topic.
// A nil value becomes an empty one, not a tombstone (see [Tombstone]).
func Update(topic string, key, value []byte) *bulwark.Message {
	if value == nil {
		value = []byte{}
	}
	return &bulwark.Message{Topic: topic, Key: key, Value: value}
}

// Tombstone returns the record that deletes key from the table of topic:
// a nil value.
func Tombstone(topic string, key []byte) *bulwark.Message {
	return &bulwark.Message{Topic: topic, Key: key}
}

// Emitter takes output records; eos.Emitter is one, so an eos handler's
// table updates commit in the same transaction as its other outputs and
// its input offsets.
type Emitter interface {
	Emit(msg *bulwark.Message)
}

// Put emits the record setting key to value in the table of topic
// ([Update]). A nil key emits nothing and returns [ErrNilKey].
func Put(out Emitter, topic string, key, value []byte) error {
	if key == nil {
		return ErrNilKey
	}
	out.Emit(Update(topic, key, value))
	return nil
}

// Delete emits the tombstone deleting key from the table of topic
// ([Tombstone]). A nil key emits nothing and returns [ErrNilKey].
func Delete(out Emitter, topic string, key []byte) error {
	if key == nil {
		return ErrNilKey
	}
	out.Emit(Tombstone(topic, key))
	return nil
}
