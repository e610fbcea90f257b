package fleet

// buffer is the device's bounded store of readings not yet acknowledged,
// oldest first. When full, push drops the oldest (newest readings matter
// most) and counts it. Memory grows with use, not with the bound: most
// devices are connected and hold one message at a time. Pure, not safe for
// concurrent use.
type buffer struct {
	items   []outMsg // items[head:] are queued, oldest first
	head    int
	limit   int
	dropped uint64
}

func newBuffer(limit int) *buffer { return &buffer{limit: limit} }

// push appends m, dropping the oldest when full; it reports whether one was dropped.
func (b *buffer) push(m outMsg) bool {
	if b.limit == 0 {
		b.dropped++
		return true
	}
	dropped := false
	if b.len() == b.limit {
		b.pop()
		b.dropped++
		dropped = true
	}
	if b.head > 0 && b.head >= len(b.items)/2 { // compact: reuse the front
		n := copy(b.items, b.items[b.head:])
		clear(b.items[n:])
		b.items, b.head = b.items[:n], 0
	}
	b.items = append(b.items, m)
	return dropped
}

// peek returns the oldest item.
func (b *buffer) peek() (outMsg, bool) {
	if b.len() == 0 {
		return outMsg{}, false
	}
	return b.items[b.head], true
}

// pop removes the oldest item.
func (b *buffer) pop() {
	if b.len() == 0 {
		return
	}
	b.items[b.head] = outMsg{}
	b.head++
	if b.head == len(b.items) {
		b.items, b.head = b.items[:0], 0
	}
}

func (b *buffer) len() int { return len(b.items) - b.head }
