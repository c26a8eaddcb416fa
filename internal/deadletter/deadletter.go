// Package deadletter builds dead-letter records, so the consumer and eos
// write the same headers (DESIGN.md: the original record plus its source
// and the failure).
package deadletter

import (
	"strconv"

	"github.com/bulwarkgo/bulwark"
)

// Record returns the dead-letter record for msg, which failed with cause
// after attempts tries in consumer group group, addressed to topic. The
// original key, value and headers are kept as they were. An empty group
// (none known, as in consumertest) adds no group header.
func Record(topic, group string, msg *bulwark.Message, cause error, attempts int) *bulwark.Message {
	dl := msg.Clone()
	dl.Topic = topic
	dl.Partition = 0
	dl.Offset = 0
	dl.Attempt = 0
	errText := "<nil>"
	class := bulwark.ClassRetryable
	if cause != nil {
		errText = cause.Error()
		class = bulwark.ClassOf(cause)
	}
	dl.Headers = append(dl.Headers,
		bulwark.Header{Key: bulwark.HeaderDLTTopic, Value: []byte(msg.Topic)},
		bulwark.Header{Key: bulwark.HeaderDLTPartition, Value: []byte(strconv.FormatInt(int64(msg.Partition), 10))},
		bulwark.Header{Key: bulwark.HeaderDLTOffset, Value: []byte(strconv.FormatInt(msg.Offset, 10))},
		bulwark.Header{Key: bulwark.HeaderDLTError, Value: []byte(errText)},
		bulwark.Header{Key: bulwark.HeaderDLTErrorClass, Value: []byte(class.String())},
		bulwark.Header{Key: bulwark.HeaderDLTAttempts, Value: []byte(strconv.Itoa(attempts))},
	)
	if group != "" {
		dl.Headers = append(dl.Headers, bulwark.Header{Key: bulwark.HeaderDLTGroup, Value: []byte(group)})
	}
	if !msg.Timestamp.IsZero() {
		dl.Headers = append(dl.Headers, bulwark.Header{Key: bulwark.HeaderDLTOriginalTimestamp,
			Value: []byte(strconv.FormatInt(msg.Timestamp.UnixMilli(), 10))})
	}
	return dl
}
