package outbox

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/internal/topicname"
	"github.com/google/uuid"
)

// Outbox writes messages to the outbox table inside the caller's
// transactions. It holds no connection and is safe for concurrent use.
type Outbox struct {
	table  string
	insert string
}

// New returns an outbox on the table [WithTable] names (default
// [DefaultTable]); options of the relay are accepted and ignored, so one
// option list can configure both.
func New(opts ...Option) (*Outbox, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Outbox{
		table:  cfg.table,
		insert: "INSERT INTO " + cfg.table + " (topic, message_id, key, value, headers) VALUES ($1, $2, $3, $4, $5)",
	}, nil
}

// Table returns the outbox table's name.
func (o *Outbox) Table() string { return o.table }

// Place writes msg to the outbox inside tx: it is published if and only if
// tx commits. msg's topic, key, value and headers are stored; its
// partition, offset and timestamp are not (the producer partitions by
// key). Its message ID ([bulwark.HeaderMessageID]) is kept when it has
// one, which must then be unique, and is a new random UUID otherwise; the
// published record carries it, which is how the relay recognises its
// records after a crash and how consumers deduplicate.
//
// The relay publishes the rows of a key in the order of their row IDs,
// which PostgreSQL assigns when Place runs: rows of one key placed by
// transactions that run one after the other (for instance because they
// update the same business row first) are published in that order, while
// two transactions placing the same key at the same time have no order.
func (o *Outbox) Place(ctx context.Context, tx *sql.Tx, msg *bulwark.Message) error {
	switch {
	case tx == nil:
		return fmt.Errorf("%w: nil *sql.Tx", ErrInvalidConfig)
	case msg == nil:
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if err := topicname.Check(msg.Topic); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	id := msg.MessageID()
	if id == "" {
		id = uuid.NewString()
	}
	if _, err := tx.ExecContext(ctx, o.insert, msg.Topic, id, msg.Key, msg.Value, encodeHeaders(msg.Headers)); err != nil {
		return fmt.Errorf("outbox: place a message for %s: %w", msg.Topic, err)
	}
	return nil
}

// Headers are stored in one bytea, without the message ID (a column of
// its own): per header, the uvarint length of the key, the key, the
// uvarint length of the value, the value.
func encodeHeaders(hs []bulwark.Header) []byte {
	out := []byte{} // not NULL
	for _, h := range hs {
		if h.Key == bulwark.HeaderMessageID {
			continue
		}
		out = binary.AppendUvarint(out, uint64(len(h.Key)))
		out = append(out, h.Key...)
		out = binary.AppendUvarint(out, uint64(len(h.Value)))
		out = append(out, h.Value...)
	}
	return out
}

var errCorruptHeaders = errors.New("outbox: corrupt headers column")

func decodeHeaders(raw []byte) ([]bulwark.Header, error) {
	var out []bulwark.Header
	next := func() ([]byte, error) {
		n, w := binary.Uvarint(raw)
		if w <= 0 || uint64(len(raw)-w) < n {
			return nil, errCorruptHeaders
		}
		b := raw[w : w+int(n)]
		raw = raw[w+int(n):]
		return b, nil
	}
	for len(raw) > 0 {
		k, err := next()
		if err != nil {
			return nil, err
		}
		v, err := next()
		if err != nil {
			return nil, err
		}
		out = append(out, bulwark.Header{Key: string(k), Value: v})
	}
	return out, nil
}
