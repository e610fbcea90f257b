package bridge_test

import (
	"context"
	"errors"
	"sync"

	"github.com/outpost-edge/outpost/bridge"
)

// fakeSink is an in-process upstream for the Run loop's own tests (the real
// sinks are exercised in outage_test.go). It acks synchronously unless told
// otherwise and records every message it accepted, duplicates included.
type fakeSink struct {
	// mu guards everything below.
	mu        sync.Mutex
	connected bool
	connects  int
	failDials int                    // Connect fails this many more times
	reject    map[string]bool        // destination topics to reject for good
	retryOnce map[uint64]bool        // offsets to fail with Retry once
	hang      bool                   // accept but never ack (until Disconnect)
	pending   []pendingAck           // unacked while hanging
	delivered []bridge.Message       // acked messages in ack order
	onDeliver func(m bridge.Message) // optional hook, called under mu
}

type pendingAck struct {
	m   *bridge.Message
	ack bridge.AckFunc
}

var _ bridge.Sink = (*fakeSink)(nil)

func newFakeSink() *fakeSink {
	return &fakeSink{reject: map[string]bool{}, retryOnce: map[uint64]bool{}}
}

func (f *fakeSink) Connect(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failDials > 0 {
		f.failDials--
		return errors.New("fake: dial refused")
	}
	f.connected = true
	f.connects++
	return nil
}

func (f *fakeSink) Send(ctx context.Context, msgs []bridge.Message, ack bridge.AckFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range msgs {
		m := &msgs[i]
		switch {
		case !f.connected:
			ack(m, bridge.Result{Outcome: bridge.Retry, Err: errors.New("fake: not connected")})
		case f.reject[m.Topic]:
			ack(m, bridge.Result{Outcome: bridge.Rejected, Err: errors.New("fake: not authorised")})
		case f.retryOnce[m.Record.Offset]:
			delete(f.retryOnce, m.Record.Offset)
			ack(m, bridge.Result{Outcome: bridge.Retry, Err: errors.New("fake: timeout")})
		case f.hang:
			f.pending = append(f.pending, pendingAck{m, ack})
		default:
			f.delivered = append(f.delivered, *m)
			if f.onDeliver != nil {
				f.onDeliver(*m)
			}
			ack(m, bridge.Result{Outcome: bridge.Acked})
		}
	}
}

func (f *fakeSink) Disconnect() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pending {
		p.ack(p.m, bridge.Result{Outcome: bridge.Retry, Err: errors.New("fake: disconnected")})
	}
	f.pending, f.connected = nil, false
	return nil
}

// release acks what hanging held back and stops hanging.
func (f *fakeSink) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pending {
		f.delivered = append(f.delivered, *p.m)
		p.ack(p.m, bridge.Result{Outcome: bridge.Acked})
	}
	f.pending, f.hang = nil, false
}

func (f *fakeSink) set(fn func(f *fakeSink)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeSink) messages() []bridge.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bridge.Message(nil), f.delivered...)
}
