package producer

import (
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
)

// messageIDLen is the length of a message ID: a UUID's 16 bytes in
// unpadded base64url.
const messageIDLen = 22

// newMessageID writes a random (version 4) UUID to dst as 22 characters
// of unpadded base64url (RFC 4648 §5), not the 36 of the UUID's usual text
// form: with the header's key that is 42 bytes on every record instead of
// 56. The ID stays printable ASCII, so it goes into logs, span attributes
// and text columns (dedup's SQL store) as the old form did, and decodes to
// a standard UUID for whoever needs one. Readers treat IDs as opaque
// strings, so records carrying the old form keep their keys. It allocates
// nothing, so the ID can live inside the record's own state.
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
	base64.RawURLEncoding.Encode(dst[:], u[:])
}
