package bridge

// window tracks the records of one connection epoch from the first record
// not done (the cursor) to the last record handed to the sink. A record is
// done when acknowledged, skipped or dead-lettered; the cursor advances only
// over the contiguous done prefix. Offsets are gapless, so slot i is offset
// base+i. Not safe for concurrent use.
type window struct {
	base     uint64 // offset of done[0]: the cursor (first offset not done)
	done     []bool
	inflight int // records added and not done
}

func newWindow(base uint64) *window { return &window{base: base} }

// next is the offset the next add must carry.
func (w *window) next() uint64 { return w.base + uint64(len(w.done)) }

// add appends offset off (which must equal next()); skipped records are done
// at once. It reports false, changing nothing, for an out-of-sequence offset.
func (w *window) add(off uint64, done bool) bool {
	if off != w.next() {
		return false
	}
	w.done = append(w.done, done)
	if !done {
		w.inflight++
	}
	return true
}

// ack marks off done. It reports whether off was in flight (false for an
// offset outside the window or already done: a duplicate ack).
func (w *window) ack(off uint64) bool {
	if off < w.base || off >= w.next() || w.done[off-w.base] {
		return false
	}
	w.done[off-w.base] = true
	w.inflight--
	return true
}

// advance drops the done prefix and returns the new cursor.
func (w *window) advance() uint64 {
	n := 0
	for n < len(w.done) && w.done[n] {
		n++
	}
	if n > 0 {
		w.base += uint64(n)
		w.done = w.done[n:]
		if cap(w.done) > 4096 && len(w.done) < cap(w.done)/4 {
			w.done = append([]bool(nil), w.done...)
		}
	}
	return w.base
}
