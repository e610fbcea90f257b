package upstreamtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/bridge"
)

// Results collects sink results by record offset; Ack is a bridge.AckFunc.
type Results struct {
	// mu guards got and dups.
	mu   sync.Mutex
	got  map[uint64]bridge.Result
	dups int
}

// NewResults returns an empty collector.
func NewResults() *Results { return &Results{got: map[uint64]bridge.Result{}} }

// Ack records r for m's offset.
func (r *Results) Ack(m *bridge.Message, res bridge.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.got[m.Record.Offset]; dup {
		r.dups++
	}
	r.got[m.Record.Offset] = res
}

// Len is how many offsets have a result.
func (r *Results) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// Get returns the result for offset off.
func (r *Results) Get(off uint64) bridge.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[off]
}

// All returns a copy of every result and the number of repeated acks.
func (r *Results) All() (map[uint64]bridge.Result, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[uint64]bridge.Result, len(r.got))
	for k, v := range r.got {
		out[k] = v
	}
	return out, r.dups
}

// Connect connects s (5 s limit), fails the test unless the outcome matches
// wantOK, and reports whether s is connected; a connected s is disconnected
// at cleanup.
func Connect(t testing.TB, s bridge.Sink, wantOK bool) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.Connect(ctx)
	if (err == nil) != wantOK {
		t.Fatalf("Connect: %v, want ok=%v", err, wantOK)
	}
	if err == nil {
		t.Cleanup(func() { _ = s.Disconnect() })
	}
	return err == nil
}
