package cluster

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"
)

// Data-plane framing. Every frame is a 4-byte big-endian body length, then
// the body: one type byte and the type's fields. Integers are uvarints,
// strings and byte slices are a uvarint length then the bytes.
//
//	challenge (receiver -> forwarder, once): nonce[32]
//	hello     (forwarder -> receiver, once): origin, mac (HMAC-SHA256 of nonce|origin, empty without a key)
//	batch     (forwarder -> receiver):       upTo, count, count x message
//	ack       (receiver -> forwarder):       upTo
//
// upTo is the forwarder's log position after the batch: the receiver acks it
// once every message in the batch is delivered or dropped as a duplicate, and
// the forwarder commits its cursor to it. A batch may carry no message (its
// records did not match the peer's interest) so the cursor still advances.
const (
	frameChallenge byte = 1
	frameHello     byte = 2
	frameBatch     byte = 3
	frameAck       byte = 4
)

// maxFrame bounds a frame body, so a corrupt length cannot allocate without limit.
const maxFrame = 64 << 20

// frame is one decoded data-plane frame.
type frame struct {
	typ    byte
	nonce  []byte
	origin string
	mac    []byte
	upTo   uint64
	msgs   []Message
}

// appendFrame encodes f with its length prefix onto b.
func appendFrame(b []byte, f *frame) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, f.typ)
	switch f.typ {
	case frameChallenge:
		b = appendBytes(b, f.nonce)
	case frameHello:
		b = appendBytes(appendBytes(b, []byte(f.origin)), f.mac)
	case frameBatch:
		b = binary.AppendUvarint(b, f.upTo)
		b = binary.AppendUvarint(b, uint64(len(f.msgs)))
		for i := range f.msgs {
			b = appendMessage(b, &f.msgs[i])
		}
	case frameAck:
		b = binary.AppendUvarint(b, f.upTo)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

func appendMessage(b []byte, m *Message) []byte {
	b = binary.AppendUvarint(b, m.Offset)
	b = binary.AppendVarint(b, m.Time.UnixNano())
	b = appendStr(b, m.Origin)
	b = appendStr(b, m.ClientID)
	b = appendStr(b, m.Topic)
	b = appendBytes(b, m.Payload)
	var flags byte
	if m.Retain {
		flags |= 1
	}
	if m.Props.PayloadFormatSet {
		flags |= 2
	}
	if m.Props.CorrelationData != nil {
		flags |= 4
	}
	b = append(b, m.QoS, flags, m.Props.PayloadFormat)
	b = binary.AppendUvarint(b, uint64(m.Props.MessageExpiry))
	b = appendStr(b, m.Props.ContentType)
	b = appendStr(b, m.Props.ResponseTopic)
	b = appendBytes(b, m.Props.CorrelationData)
	b = binary.AppendUvarint(b, uint64(len(m.Props.User)))
	for _, u := range m.Props.User {
		b = appendStr(appendStr(b, u.Key), u.Value)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBytes(b, p []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(p))), p...)
}

// readFrame reads one frame from r; buf is reused for the body and the
// returned frame owns copies of every byte slice.
func readFrame(r io.Reader, buf []byte) (frame, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxFrame {
		return frame{}, buf, fmt.Errorf("%w: length %d", ErrFrame, n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return frame{}, buf, err
	}
	f, err := decodeFrame(buf)
	return f, buf, err
}

// decodeFrame decodes a frame body (type byte onwards). It never panics and
// returns ErrFrame for any malformed or trailing input.
func decodeFrame(body []byte) (frame, error) {
	d := decoder{b: body}
	f := frame{typ: d.byte()}
	switch f.typ {
	case frameChallenge:
		f.nonce = d.bytes()
	case frameHello:
		f.origin = d.str()
		f.mac = d.bytes()
	case frameBatch:
		f.upTo = d.uvarint()
		n := d.uvarint()
		if n > uint64(len(d.b)) { // every message takes well over one byte
			d.fail()
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			f.msgs = append(f.msgs, d.message())
		}
	case frameAck:
		f.upTo = d.uvarint()
	default:
		d.fail()
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return frame{}, fmt.Errorf("%w: type %d", ErrFrame, f.typ)
	}
	return f, nil
}

// decoder reads fields; after the first error every read returns zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = ErrFrame, nil }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// raw returns the next length-prefixed field without copying.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) bytes() []byte {
	r := d.raw()
	if r == nil {
		return nil
	}
	return append([]byte{}, r...)
}

func (d *decoder) message() Message {
	var m Message
	m.Offset = d.uvarint()
	m.Time = time.Unix(0, d.varint())
	m.Origin, m.ClientID, m.Topic = d.str(), d.str(), d.str()
	m.Payload = d.bytes()
	m.QoS = d.byte()
	flags := d.byte()
	m.Props.PayloadFormat = d.byte()
	m.Retain, m.Props.PayloadFormatSet = flags&1 != 0, flags&2 != 0
	exp := d.uvarint()
	if exp > math.MaxUint32 || m.QoS > 2 || flags > 7 {
		d.fail()
	}
	m.Props.MessageExpiry = uint32(exp)
	m.Props.ContentType, m.Props.ResponseTopic = d.str(), d.str()
	m.Props.CorrelationData = d.bytes()
	if flags&4 == 0 {
		m.Props.CorrelationData = nil // absent, not empty
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.Props.User = append(m.Props.User, UserProperty{Key: d.str(), Value: d.str()})
	}
	return m
}
