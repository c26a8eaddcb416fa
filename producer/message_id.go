package producer

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// messageIDLen is the length of a UUID in text form.
const messageIDLen = 36

// newMessageID writes a random (version 4) UUID in text form to dst. It
// allocates nothing, so the ID can live inside the record's own state.
//
// The bits come from math/rand/v2's global generator: ChaCha8, seeded from
// the operating system's entropy and kept per thread, so there is no lock
// and no system call (an ID takes about 25 ns; with crypto/rand it took
// about 100). The IDs need to be unique, not secret: 122 random bits make a
// collision as unlikely as with any version-4 UUID.
func newMessageID(dst *[messageIDLen]byte) {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[0:8], rand.Uint64())
	binary.LittleEndian.PutUint64(u[8:16], rand.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	hex.Encode(dst[0:8], u[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], u[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], u[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], u[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], u[10:])
}
