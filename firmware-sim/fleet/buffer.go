package fleet

// buffer is the device's bounded store of readings not yet acknowledged,
// oldest first. When full, push drops the oldest (newest readings matter
// most) and counts it. Pure, not safe for concurrent use.
type buffer struct {
	items   []outMsg
	head    int // index of the oldest item
	n       int
	dropped uint64
}

func newBuffer(capacity int) *buffer { return &buffer{items: make([]outMsg, capacity)} }

// push appends m, dropping the oldest when full; it reports whether one was dropped.
func (b *buffer) push(m outMsg) bool {
	if len(b.items) == 0 {
		b.dropped++
		return true
	}
	if b.n == len(b.items) {
		b.items[b.head] = m
		b.head = (b.head + 1) % len(b.items)
		b.dropped++
		return true
	}
	b.items[(b.head+b.n)%len(b.items)] = m
	b.n++
	return false
}

// peek returns the oldest item.
func (b *buffer) peek() (outMsg, bool) {
	if b.n == 0 {
		return outMsg{}, false
	}
	return b.items[b.head], true
}

// pop removes the oldest item.
func (b *buffer) pop() {
	if b.n == 0 {
		return
	}
	b.items[b.head] = outMsg{}
	b.head = (b.head + 1) % len(b.items)
	b.n--
}

func (b *buffer) len() int { return b.n }
