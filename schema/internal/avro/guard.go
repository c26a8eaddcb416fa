package avro

import (
	"errors"
	"fmt"
)

// Limits of the pre-decode scan. goavro sizes arrays and maps from the
// block count in the data before reading the items, so a few garbage bytes
// claiming two billion items would make it allocate gigabytes. The scan
// walks the payload first, cheaply and without allocating, and rejects
// counts the remaining bytes cannot hold.
//
// Why goavro does not do this: its only bounds are the package variables
// MaxBlockCount and MaxBlockSize (2^31 by default); lowering them would be
// process-wide state shared with every other goavro user, and would still
// not relate a count to the bytes actually left.
const (
	// maxZeroSizeItems caps the items of a zero-byte type (null, an empty
	// record) in one record, which take no bytes and so cannot be bounded
	// by the payload's length.
	maxZeroSizeItems = 1 << 16
	// maxNesting caps the depth of nested records, arrays, maps and unions
	// in the data (recursive schemas), to bound the decoder's stack.
	maxNesting = 1000
)

var errShort = errors.New("payload ends early")

// Guard holds what the scan needs to know about a writer schema.
type Guard struct {
	root    *Type
	minSize map[*Type]int
}

// NewGuard returns nil when t has no arrays or maps, whose counts are the
// only lengths goavro trusts before checking them against the payload.
// A recursive schema is scanned too, for its nesting depth.
func NewGuard(t *Type) *Guard {
	if !hasBlocks(t, map[*Type]bool{}) && !recursive(t, map[*Type]bool{}) {
		return nil
	}
	g := &Guard{root: t, minSize: map[*Type]int{}}
	g.sizeAll(t, map[*Type]bool{}) // now, so that Check only reads
	for typ, n := range g.minSize {
		typ.minSize = n
	}
	return g
}

func (g *Guard) sizeAll(t *Type, seen map[*Type]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	g.size(t)
	for _, c := range children(t) {
		g.sizeAll(c, seen)
	}
}

func children(t *Type) []*Type {
	switch t.kind {
	case kindRecord:
		out := make([]*Type, len(t.fields))
		for i, f := range t.fields {
			out[i] = f.typ
		}
		return out
	case kindUnion:
		return t.branches
	case kindArray:
		return []*Type{t.items}
	case kindMap:
		return []*Type{t.values}
	}
	return nil
}

// recursive reports whether a type refers to itself.
func recursive(t *Type, onPath map[*Type]bool) bool {
	if onPath[t] {
		return true
	}
	onPath[t] = true
	defer delete(onPath, t)
	for _, c := range children(t) {
		if recursive(c, onPath) {
			return true
		}
	}
	return false
}

func hasBlocks(t *Type, seen map[*Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.kind {
	case kindArray, kindMap:
		return true
	case kindRecord:
		for _, f := range t.fields {
			if hasBlocks(f.typ, seen) {
				return true
			}
		}
	case kindUnion:
		for _, b := range t.branches {
			if hasBlocks(b, seen) {
				return true
			}
		}
	}
	return false
}

// size returns the fewest bytes a value of t can take.
func (g *Guard) size(t *Type) int {
	if n, ok := g.minSize[t]; ok {
		return n
	}
	g.minSize[t] = 0 // a recursive reference counts as zero: conservative
	n := 0
	switch t.kind {
	case kindNull:
	case kindFloat:
		n = 4
	case kindDouble:
		n = 8
	case kindFixed:
		n = t.size
	case kindRecord:
		for _, f := range t.fields {
			n += g.size(f.typ)
		}
	default: // a varint, a length, a count or a union index: one byte at least
		n = 1
	}
	g.minSize[t] = n
	return n
}

// Check scans buf as a value of the guard's schema.
func (g *Guard) Check(buf []byte) error {
	s := scanner{g: g, buf: buf}
	if err := s.value(g.root, 0); err != nil {
		return err
	}
	return nil
}

// scanner walks by index: moving an int is cheaper than re-slicing.
type scanner struct {
	g         *Guard
	buf       []byte
	pos       int
	zeroItems int
}

func (s *scanner) left() int { return len(s.buf) - s.pos }

func (s *scanner) varint() (int64, error) {
	if s.pos < len(s.buf) && s.buf[s.pos] < 0x80 { // one byte: most counts and lengths
		b := s.buf[s.pos]
		s.pos++
		return int64(b>>1) ^ -int64(b&1), nil
	}
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if s.pos >= len(s.buf) {
			return 0, errShort
		}
		b := s.buf[s.pos]
		s.pos++
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return int64(v>>1) ^ -int64(v&1), nil
		}
	}
	return 0, errors.New("varint longer than 10 bytes")
}

func (s *scanner) skip(n int64) error {
	if n < 0 {
		return fmt.Errorf("negative length %d", n)
	}
	if n > int64(s.left()) {
		return errShort
	}
	s.pos += int(n)
	return nil
}

func (s *scanner) value(t *Type, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("nesting deeper than %d", maxNesting)
	}
	switch t.kind {
	case kindNull:
		return nil
	case kindBoolean:
		return s.skip(1)
	case kindInt, kindLong, kindEnum:
		_, err := s.varint()
		return err
	case kindFloat:
		return s.skip(4)
	case kindDouble:
		return s.skip(8)
	case kindFixed:
		return s.skip(int64(t.size))
	case kindBytes, kindString:
		n, err := s.varint()
		if err != nil {
			return err
		}
		return s.skip(n)
	case kindRecord:
		for _, f := range t.fields {
			// Primitives inline: the call per field is most of the cost.
			var err error
			switch f.typ.kind {
			case kindNull:
			case kindInt, kindLong, kindEnum:
				_, err = s.varint()
			case kindString, kindBytes:
				var n int64
				if n, err = s.varint(); err == nil {
					err = s.skip(n)
				}
			case kindDouble:
				err = s.skip(8)
			case kindFloat:
				err = s.skip(4)
			case kindBoolean:
				err = s.skip(1)
			default:
				err = s.value(f.typ, depth+1)
			}
			if err != nil {
				return err
			}
		}
		return nil
	case kindUnion:
		i, err := s.varint()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(t.branches)) {
			return fmt.Errorf("union index %d out of range", i)
		}
		return s.value(t.branches[i], depth+1)
	case kindArray, kindMap:
		item := t.items
		if t.kind == kindMap {
			item = t.values
		}
		itemSize := item.minSize
		if t.kind == kindMap {
			itemSize++ // the key's length
		}
		for {
			count, err := s.varint()
			if err != nil {
				return err
			}
			if count == 0 {
				return nil
			}
			if count < 0 {
				if count == -1<<63 {
					return fmt.Errorf("block count out of range")
				}
				count = -count
				if _, err := s.varint(); err != nil { // block size in bytes
					return err
				}
			}
			if itemSize > 0 {
				if count > int64(s.left())/int64(itemSize) {
					return fmt.Errorf("block of %d items cannot fit in %d bytes", count, s.left())
				}
			} else {
				s.zeroItems += int(min(count, maxZeroSizeItems+1))
				if s.zeroItems > maxZeroSizeItems {
					return fmt.Errorf("more than %d items of a zero-byte type", maxZeroSizeItems)
				}
			}
			for ; count > 0; count-- {
				if t.kind == kindMap {
					n, err := s.varint()
					if err != nil {
						return err
					}
					if err := s.skip(n); err != nil {
						return err
					}
				}
				if err := s.value(item, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return fmt.Errorf("unknown type %s", t.kind)
}
