// Package deadletters inspects and replays the pipeline's dead-letter
// topics. A dead-letter record is the original record (key, value, headers)
// plus bulwark's headers naming where it came from and why it failed;
// replaying sends the original back to its source topic, where the
// (idempotent) services process it again.
package deadletters

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkgo/bulwark"
)

// Reader reads a topic from its start to its current end.
type Reader interface {
	Read(ctx context.Context, topic string) ([]*bulwark.Message, error)
}

// Record is one dead-lettered record.
type Record struct {
	DLT             string    `json:"dead_letter_topic"`
	Offset          int64     `json:"offset"`
	Partition       int32     `json:"partition"`
	SourceTopic     string    `json:"source_topic"`
	SourcePartition int32     `json:"source_partition"`
	SourceOffset    int64     `json:"source_offset"`
	Group           string    `json:"group"`
	Key             string    `json:"key"`
	Error           string    `json:"error"`
	ErrorClass      string    `json:"error_class"`
	Attempts        int       `json:"attempts"`
	Time            time.Time `json:"time"`

	original *bulwark.Message
}

// List reads every record of the dead-letter topics.
func List(ctx context.Context, r Reader, dlts ...string) ([]Record, error) {
	var out []Record
	for _, t := range dlts {
		recs, err := r.Read(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, m := range recs {
			out = append(out, parse(m))
		}
	}
	return out, nil
}

func parse(m *bulwark.Message) Record {
	h := func(k string) string { v, _ := m.Header(k); return string(v) }
	atoi := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	rec := Record{
		DLT: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Timestamp,
		SourceTopic: h(bulwark.HeaderDLTTopic), SourcePartition: int32(atoi(h(bulwark.HeaderDLTPartition))),
		SourceOffset: atoi(h(bulwark.HeaderDLTOffset)), Group: h(bulwark.HeaderDLTGroup), Key: string(m.Key),
		Error: h(bulwark.HeaderDLTError), ErrorClass: h(bulwark.HeaderDLTErrorClass),
		Attempts: int(atoi(h(bulwark.HeaderDLTAttempts))),
	}
	orig := &bulwark.Message{Topic: rec.SourceTopic, Key: m.Key, Value: m.Value}
	for _, hd := range m.Headers {
		if !strings.HasPrefix(hd.Key, "bulwark-dlt-") {
			orig.Headers = append(orig.Headers, hd)
		}
	}
	rec.original = orig
	return rec
}

// Replay sends each record's original back to its source topic, with its
// original headers (so its message ID, and with it dedup, is unchanged).
func Replay(ctx context.Context, send func(context.Context, *bulwark.Message) error, recs []Record) (int, error) {
	n := 0
	for _, r := range recs {
		if r.original == nil || r.SourceTopic == "" {
			return n, fmt.Errorf("deadletters: record %s/%d/%d names no source topic", r.DLT, r.Partition, r.Offset)
		}
		if err := send(ctx, r.original); err != nil {
			return n, fmt.Errorf("deadletters: replay %s/%d/%d: %w", r.DLT, r.Partition, r.Offset, err)
		}
		n++
	}
	return n, nil
}
