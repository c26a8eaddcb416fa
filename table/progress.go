package table

import "sync/atomic"

// Progress says how far the table got. Records and Bytes count from Open,
// the restore and what followed it.
type Progress struct {
	Ready      bool  // every partition restored
	Keys       int   // keys in the table now
	Records    int64 // records applied (puts and tombstones)
	Bytes      int64 // key and value bytes of those records
	Skipped    int64 // records without a key, not applied
	Undecoded  int64 // values the decoder refused (see WithDecoder)
	Restored   int   // partitions restored
	Partitions []PartitionProgress
}

// PartitionProgress is one partition's part of [Progress].
type PartitionProgress struct {
	Partition int32
	// RestoreEnd is the offset the restore reads up to (the high
	// watermark when it started), -1 while not known yet.
	RestoreEnd int64
	// Position is the offset after the last record applied, -1 before
	// the first.
	Position int64
	Restored bool
	Records  int64
	Bytes    int64
}

// partition is one partition's state; its goroutine writes it, Progress
// reads it.
type partition struct {
	id       int32
	end      atomic.Int64
	position atomic.Int64
	restored atomic.Bool
	records  atomic.Int64
	bytes    atomic.Int64
}

// Progress returns the restore's and the follow's progress.
func (t *Table) Progress() Progress {
	p := Progress{
		Keys:      t.Len(),
		Skipped:   t.skipped.Load(),
		Undecoded: t.decodeEr.Load(),
	}
	for _, ps := range t.parts {
		pp := PartitionProgress{
			Partition:  ps.id,
			RestoreEnd: ps.end.Load(),
			Position:   ps.position.Load(),
			Restored:   ps.restored.Load(),
			Records:    ps.records.Load(),
			Bytes:      ps.bytes.Load(),
		}
		p.Records += pp.Records
		p.Bytes += pp.Bytes
		if pp.Restored {
			p.Restored++
		}
		p.Partitions = append(p.Partitions, pp)
	}
	p.Ready = p.Restored == len(t.parts)
	return p
}
