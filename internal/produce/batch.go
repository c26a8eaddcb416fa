package produce

import (
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// batch is a run of consecutive records of one partition. It is open
// (records may be appended) until sealed; a sealed batch never changes
// again, so a retry resends exactly the same records and sequences.
type batch struct {
	p    *partition
	recs []sarama.Record
	ptrs []*sarama.Record
	cbs  []Receiver
	// The records' headers, copied in: encoding then reads them from the
	// batch's own memory instead of from each caller's per-record state,
	// long out of the cache by the time the batch is sent. hbytes holds
	// their keys and values, hlens their lengths (-1: nil), nhdrs each
	// record's header count (empty while no record has any); seal builds
	// hdrs and hptrs from them, once.
	hbytes  []byte
	hlens   []hdrLen
	nhdrs   []int32
	hdrs    []sarama.RecordHeader
	hptrs   []*sarama.RecordHeader
	hbuilt  bool
	bytes   int
	first   time.Time // timestamp of the first record, the batch's base
	maxTS   time.Time
	created time.Time // when the batch was opened: linger and delivery timeout
	sealed  bool      // sequences taken: the batch never changes again
	sent    bool      // handed to a broker since it was last known unwritten: it may be written
	resent  bool      // handed to a broker more than once since: an earlier send may be written
	codec   sarama.CompressionCodec
	level   int
	rb      sarama.RecordBatch

	// Outcome, set before the batch goes to the results goroutine.
	offset int64
	err    error
}

var batchPool = sync.Pool{New: func() any { return new(batch) }}

func newBatch(p *partition, now time.Time) *batch {
	b := batchPool.Get().(*batch)
	b.p = p
	b.created = now
	return b
}

// append adds a record; the caller holds the engine lock.
func (b *batch) append(r *Record, ts time.Time, size int, cb Receiver) {
	if len(b.recs) == 0 {
		b.first = ts
		b.maxTS = ts
	}
	if ts.After(b.maxTS) {
		b.maxTS = ts
	}
	if len(r.Headers) > 0 || len(b.nhdrs) > 0 {
		b.appendHeaders(r.Headers)
	}
	b.recs = append(b.recs, sarama.Record{
		TimestampDelta: ts.Sub(b.first),
		OffsetDelta:    int64(len(b.recs)),
		Key:            r.Key,
		Value:          r.Value,
	})
	b.cbs = append(b.cbs, cb)
	b.bytes += size
}

// seal fixes the batch's sequence and builds its wire form; the caller
// holds the engine lock. Called once, when the batch is first sent.
func (b *batch) seal(pid int64, epoch int16, seq int32) {
	b.sealed = true
	b.ptrs = b.ptrs[:0]
	for i := range b.recs {
		b.ptrs = append(b.ptrs, &b.recs[i])
	}
	b.buildHeaders()
	b.rb = sarama.RecordBatch{
		Version:         2,
		FirstTimestamp:  b.first,
		MaxTimestamp:    b.maxTS,
		LastOffsetDelta: int32(len(b.recs) - 1),
		ProducerID:      pid,
		ProducerEpoch:   epoch,
		FirstSequence:   seq,
		// sarama's encoder compresses, once: a retry resends the bytes.
		Codec:            b.codec,
		CompressionLevel: b.level,
		Records:          b.ptrs,
	}
}

// hdrLen is the length of a header's key and value; -1 is nil (null on
// the wire, unlike empty).
type hdrLen struct{ key, value int32 }

func bytesLen(b []byte) int32 {
	if b == nil {
		return -1
	}
	return int32(len(b))
}

// appendHeaders copies the headers of the record about to be appended.
// nhdrs stays empty until a record has headers, so that records without
// any cost nothing here.
func (b *batch) appendHeaders(hs []*sarama.RecordHeader) {
	for len(b.nhdrs) < len(b.recs) {
		b.nhdrs = append(b.nhdrs, 0)
	}
	for _, h := range hs {
		b.hlens = append(b.hlens, hdrLen{key: bytesLen(h.Key), value: bytesLen(h.Value)})
		b.hbytes = append(append(b.hbytes, h.Key...), h.Value...)
	}
	b.nhdrs = append(b.nhdrs, int32(len(hs)))
}

// buildHeaders points each record at its headers in the batch's memory;
// nothing is appended after, so the slices stay valid until release.
func (b *batch) buildHeaders() {
	if b.hbuilt {
		return
	}
	b.hbuilt = true
	if len(b.hlens) == 0 {
		return
	}
	b.hdrs = slices.Grow(b.hdrs[:0], len(b.hlens))[:len(b.hlens)]
	b.hptrs = slices.Grow(b.hptrs[:0], len(b.hlens))[:len(b.hlens)]
	off, h := 0, 0
	take := func(n int32) []byte {
		if n < 0 {
			return nil
		}
		v := b.hbytes[off : off+int(n) : off+int(n)]
		off += int(n)
		return v
	}
	for i, n := range b.nhdrs {
		if n == 0 {
			continue
		}
		for j := h; j < h+int(n); j++ {
			l := b.hlens[j]
			b.hdrs[j] = sarama.RecordHeader{Key: take(l.key), Value: take(l.value)}
			b.hptrs[j] = &b.hdrs[j]
		}
		b.recs[i].Headers = b.hptrs[h : h+int(n) : h+int(n)]
		h += int(n)
	}
}

// batchOverhead bounds what a batch adds to a produce request beyond its
// records: the record batch header (61 bytes), the partition's index and
// records length, and the topic's name, length and partition count as if
// each batch had a topic of its own.
const batchOverhead = 61 + 4 + 4 + 2 + 4

// requestBytes estimates what b adds to a produce request.
func (b *batch) requestBytes() int { return b.bytes + batchOverhead + len(b.p.topic) }

// release returns the batch to the pool once its callbacks have run,
// dropping every reference to the caller's data.
func (b *batch) release() {
	clear(b.recs)
	clear(b.ptrs)
	clear(b.cbs)
	clear(b.hdrs)
	clear(b.hptrs)
	*b = batch{recs: b.recs[:0], ptrs: b.ptrs[:0], cbs: b.cbs[:0],
		hbytes: b.hbytes[:0], hlens: b.hlens[:0], nhdrs: b.nhdrs[:0], hdrs: b.hdrs[:0], hptrs: b.hptrs[:0]}
	batchPool.Put(b)
}
