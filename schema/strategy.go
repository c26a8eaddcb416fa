package schema

import "fmt"

// SubjectNameStrategy names the registry subject of a topic's keys or
// values. recordName is the full name of the schema's record ("" when the
// schema is not a named type).
type SubjectNameStrategy func(topic string, isKey bool, recordName string) (string, error)

func keyOrValue(isKey bool) string {
	if isKey {
		return "key"
	}
	return "value"
}

// TopicNameStrategy names subjects "<topic>-key" and "<topic>-value": one
// schema history per topic. The registry's default.
func TopicNameStrategy(topic string, isKey bool, _ string) (string, error) {
	return topic + "-" + keyOrValue(isKey), nil
}

// RecordNameStrategy names the subject after the record's full name: one
// history per record type, shared by every topic that carries it.
func RecordNameStrategy(_ string, _ bool, recordName string) (string, error) {
	if recordName == "" {
		return "", fmt.Errorf("%w: RecordNameStrategy needs a named schema (record, enum or fixed)", ErrInvalidConfig)
	}
	return recordName, nil
}

// TopicRecordNameStrategy names the subject "<topic>-<record full name>":
// several record types per topic, each with its own history.
func TopicRecordNameStrategy(topic string, _ bool, recordName string) (string, error) {
	if recordName == "" {
		return "", fmt.Errorf("%w: TopicRecordNameStrategy needs a named schema (record, enum or fixed)", ErrInvalidConfig)
	}
	return topic + "-" + recordName, nil
}
