package load

import (
	"encoding/binary"
	"time"
)

// HeaderSize is the bench payload header: send time (Unix ns), run id,
// publisher index and sequence number, big-endian.
const HeaderSize = 8 + 4 + 4 + 4

// header is the decoded payload header.
type header struct {
	sent      int64
	run       uint32
	publisher uint32
	seq       uint32
}

// encode writes h at the start of buf (len >= HeaderSize); the rest is padding.
func encode(buf []byte, h header) {
	binary.BigEndian.PutUint64(buf[0:], uint64(h.sent))
	binary.BigEndian.PutUint32(buf[8:], h.run)
	binary.BigEndian.PutUint32(buf[12:], h.publisher)
	binary.BigEndian.PutUint32(buf[16:], h.seq)
}

// decode reads a header; ok is false for payloads that are not ours.
func decode(b []byte, run uint32) (h header, ok bool) {
	if len(b) < HeaderSize || binary.BigEndian.Uint32(b[8:]) != run {
		return header{}, false
	}
	return header{
		sent: int64(binary.BigEndian.Uint64(b[0:])), run: run,
		publisher: binary.BigEndian.Uint32(b[12:]), seq: binary.BigEndian.Uint32(b[16:]),
	}, true
}

func newPayload(size int, h header) []byte {
	b := make([]byte, size)
	for i := HeaderSize; i < size; i++ {
		b[i] = 'x'
	}
	h.sent = time.Now().UnixNano()
	encode(b, h)
	return b
}
