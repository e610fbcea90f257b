package bridge

import "sync"

// ackItem is one sink result waiting for the Run loop.
type ackItem struct {
	msg    *Message
	res    Result
	resend bool // a dead letter re-sent through Resend, outside the window
}

// ackQueue carries results from sink goroutines to the Run loop without
// ever blocking the sink: an unbounded slice plus a 1-token notification.
type ackQueue struct {
	// mu guards items.
	mu     sync.Mutex
	items  []ackItem
	notify chan struct{}
}

func newAckQueue() *ackQueue { return &ackQueue{notify: make(chan struct{}, 1)} }

func (q *ackQueue) push(it ackItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take returns the queued items; spare, emptied, collects the next ones
// (the caller hands back what take returned last time, so two slices serve
// every batch of acks instead of one growing slice per batch).
func (q *ackQueue) take(spare []ackItem) []ackItem {
	clear(spare) // no Message stays reachable through a spare slot
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.items
	q.items = spare[:0]
	return it
}
