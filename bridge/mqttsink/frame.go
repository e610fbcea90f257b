package mqttsink

import "fmt"

// frameScanner follows MQTT packet boundaries in a byte stream without
// buffering it: fixed header byte, remaining length (variable byte integer),
// body. It rejects a packet whose total size exceeds max as soon as its
// length is known, before a reader could allocate it.
//
// Invariants (fuzzed): feed never panics; after an error every later feed
// returns the same error; packets counts complete packets and never exceeds
// the bytes fed.
type frameScanner struct {
	max int // largest total packet size accepted; 0 = no limit

	state  uint8 // 0 fixed header, 1 remaining length, 2 body
	typ    byte  // packet type of the packet in progress
	length int   // remaining length decoded so far
	shift  uint  // bits of length decoded
	vbi    int   // length bytes seen
	left   int   // body bytes still to come
	err    error

	// done is called after each complete packet with its type (may be nil).
	done func(typ byte)
}

// feed consumes p.
func (f *frameScanner) feed(p []byte) error {
	for len(p) > 0 && f.err == nil {
		switch f.state {
		case 0:
			f.typ, f.length, f.shift, f.vbi = p[0]>>4, 0, 0, 0
			f.state = 1
			p = p[1:]
		case 1:
			b := p[0]
			p = p[1:]
			f.length |= int(b&0x7f) << f.shift
			f.shift += 7
			f.vbi++
			if b&0x80 != 0 {
				if f.vbi == 4 {
					f.err = ErrMalformed
				}
				continue
			}
			if total := 1 + f.vbi + f.length; f.max > 0 && total > f.max {
				f.err = fmt.Errorf("%w: server sent packet type %d of %d bytes, cap %d", ErrPacketTooLarge, f.typ, total, f.max)
				continue
			}
			f.left = f.length
			f.state = 2
			if f.left == 0 {
				f.complete()
			}
		case 2:
			n := min(f.left, len(p))
			f.left -= n
			p = p[n:]
			if f.left == 0 {
				f.complete()
			}
		}
	}
	return f.err
}

func (f *frameScanner) complete() {
	f.state = 0
	if f.done != nil {
		f.done(f.typ)
	}
}
