package dedup

import (
	"strconv"

	"github.com/bulwarkgo/bulwark"
)

// OffsetKey is the default fallback key ([WithFallbackKeyFunc]) of a record
// without a message-ID header: "offset:" followed by its topic, partition
// and offset, e.g. "offset:orders/3/1042". It identifies the record as
// stored in Kafka, so a redelivery of the same offset (after a crash, a
// rebalance, a lost commit) is dropped as a duplicate, while the same
// payload sent twice by its producer lands at two offsets and is processed
// twice: only the producer can say two records are one (a message-ID
// header, or a business key through [WithKeyFunc]).
//
// Offsets repeat when a topic is deleted and created again: within the
// retention its new records would be taken for the old ones and dropped.
// Give a re-created topic a new store prefix or table, or a key function.
func OffsetKey(m *bulwark.Message) string {
	b := make([]byte, 0, len("offset:")+len(m.Topic)+24)
	b = append(b, "offset:"...)
	b = append(b, m.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(m.Partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, m.Offset, 10)
	return string(b)
}
