package storage

import (
	"encoding/binary"
	"fmt"
	"time"
	"unsafe"
)

// codecV1 is the first (and current) record encoding version.
//
// Layout, all integers big-endian or canonical uvarint:
//
//	[0]      version (1)
//	[1:9]    offset (uint64)
//	[9:17]   ingest time, Unix nanoseconds (int64)
//	[17]     flags: bits 0-1 QoS, bit 2 retain, bit 3 payload format set,
//	         bit 4 correlation data present; other bits zero
//	[18]     payload format indicator
//	uvarint  message expiry
//	strings  origin, client id, topic, content type, response topic
//	         (each uvarint length + bytes)
//	bytes    correlation data (uvarint length + bytes, only when bit 4 set)
//	uvarint  number of user properties, then key, value strings
//	bytes    payload (uvarint length + bytes)
//
// Offset and time sit at fixed positions so the writer can stamp them into an
// already encoded record.
const (
	codecV1      = 1
	offOffset    = 1
	offTime      = 9
	offFlags     = 17
	offFormat    = 18
	headerLen    = 19
	flagRetain   = 1 << 2
	flagFormat   = 1 << 3
	flagCorr     = 1 << 4
	flagQoSMask  = 3
	flagsAllowed = flagQoSMask | flagRetain | flagFormat | flagCorr
)

// EncodeRecord appends the versioned binary encoding of r to dst and returns
// the extended slice. Every field of r is encoded, Offset and Time included.
// QoS values above 2 are encoded as given modulo 4 and rejected by DecodeRecord
// when 3; callers pass 0, 1 or 2.
func EncodeRecord(dst []byte, r *Record) []byte {
	var hdr [headerLen]byte
	hdr[0] = codecV1
	binary.BigEndian.PutUint64(hdr[offOffset:], r.Offset)
	binary.BigEndian.PutUint64(hdr[offTime:], uint64(timeNanos(r.Time)))
	flags := r.QoS & flagQoSMask
	if r.Retain {
		flags |= flagRetain
	}
	if r.Props.PayloadFormatSet {
		flags |= flagFormat
	}
	if r.Props.CorrelationData != nil {
		flags |= flagCorr
	}
	hdr[offFlags] = flags
	hdr[offFormat] = r.Props.PayloadFormat
	dst = append(dst, hdr[:]...)
	dst = binary.AppendUvarint(dst, uint64(r.Props.MessageExpiry))
	for _, s := range [...]string{r.Origin, r.ClientID, r.Topic, r.Props.ContentType, r.Props.ResponseTopic} {
		dst = appendString(dst, s)
	}
	if r.Props.CorrelationData != nil {
		dst = appendBytes(dst, r.Props.CorrelationData)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Props.User)))
	for _, u := range r.Props.User {
		dst = appendString(dst, u.Key)
		dst = appendString(dst, u.Value)
	}
	return appendBytes(dst, r.Payload)
}

// encodedSize is an upper bound for len(EncodeRecord(nil, r)).
func encodedSize(r *Record) int {
	n := headerLen + 10 + 7*binary.MaxVarintLen64
	n += len(r.Origin) + len(r.ClientID) + len(r.Topic) + len(r.Props.ContentType)
	n += len(r.Props.ResponseTopic) + len(r.Props.CorrelationData) + len(r.Payload)
	for _, u := range r.Props.User {
		n += len(u.Key) + len(u.Value) + 2*binary.MaxVarintLen64
	}
	return n
}

func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// DecodeRecord decodes one record encoded by EncodeRecord. It never panics:
// truncated input, unknown versions, unknown flag bits, QoS 3, non-canonical
// varints and trailing bytes all return an error wrapping ErrCorrupt. For every
// b it accepts, EncodeRecord(nil, &rec) reproduces b byte for byte. The
// returned record owns its slices (nothing aliases b).
func DecodeRecord(b []byte) (Record, error) { return decodeRecord(b, false) }

// decodeRecord is DecodeRecord; with alias the record's strings and slices
// point into b instead of copies, for a caller that owns b and never
// changes it (Read decodes a chunk copied once for all its records).
func decodeRecord(b []byte, alias bool) (Record, error) {
	var r Record
	if len(b) < headerLen {
		return r, fmt.Errorf("%w: %d bytes, header needs %d", ErrCorrupt, len(b), headerLen)
	}
	if b[0] != codecV1 {
		return r, fmt.Errorf("%w: unknown version %d", ErrCorrupt, b[0])
	}
	flags := b[offFlags]
	if flags&^flagsAllowed != 0 || flags&flagQoSMask == 3 {
		return r, fmt.Errorf("%w: bad flags %#x", ErrCorrupt, flags)
	}
	r.Offset = binary.BigEndian.Uint64(b[offOffset:])
	if ns := int64(binary.BigEndian.Uint64(b[offTime:])); ns != 0 {
		r.Time = time.Unix(0, ns)
	}
	r.QoS = flags & flagQoSMask
	r.Retain = flags&flagRetain != 0
	r.Props.PayloadFormatSet = flags&flagFormat != 0
	r.Props.PayloadFormat = b[offFormat]
	d := decoder{b: b[headerLen:], alias: alias}
	exp := d.uvarint()
	if exp > 1<<32-1 {
		d.fail("message expiry overflows uint32")
	}
	r.Props.MessageExpiry = uint32(exp)
	r.Origin, r.ClientID, r.Topic = d.str(), d.str(), d.str()
	r.Props.ContentType, r.Props.ResponseTopic = d.str(), d.str()
	if flags&flagCorr != 0 {
		r.Props.CorrelationData = d.bytes()
	}
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)/2) { // each property needs at least two bytes
			d.fail("user property count exceeds input")
		} else {
			r.Props.User = make([]UserProperty, 0, n)
			for i := uint64(0); i < n && d.err == nil; i++ {
				r.Props.User = append(r.Props.User, UserProperty{Key: d.str(), Value: d.str()})
			}
		}
	}
	r.Payload = d.bytes()
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Record{}, d.err
	}
	return r, nil
}

// decoder reads canonical uvarints and length-prefixed fields, remembering
// the first error so call sites stay linear.
type decoder struct {
	b     []byte
	err   error
	alias bool // str and bytes return views of b, not copies
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, msg)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if n != uvarintLen(v) {
		d.fail("non-canonical varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length exceeds input")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	v := d.raw()
	if d.alias && len(v) > 0 {
		return unsafe.String(&v[0], len(v))
	}
	return string(v)
}

func (d *decoder) bytes() []byte {
	v := d.raw()
	if d.err != nil {
		return nil
	}
	if d.alias {
		return v[:len(v):len(v)]
	}
	return append(make([]byte, 0, len(v)), v...)
}
