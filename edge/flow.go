package edge

import (
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// roomSlack keeps a subscriber's inflight count this far below its limit, for
// deliveries that bypass the flow gate (retained messages, wills, $SYS).
const roomSlack = 4

// roomRecheck bounds how long a waiting publisher sleeps without a signal.
const roomRecheck = 50 * time.Millisecond

// roomCacheTopics bounds the topics whose subscribers the gate remembers;
// past it the cache starts over (a few hundred KiB at most).
const roomCacheTopics = 1024

// roomSub is one subscription the gate checks for room: a client's, or one
// member's of a shared group.
type roomSub struct {
	id      string
	noLocal bool
}

// flow is the gate between the log and local delivery. mochi drops a QoS 1/2
// delivery when a subscriber's queue or inflight window is full, and its own
// Receive Maximum handling stalls and deadlocks (it is switched off, see
// coreHook.OnSessionEstablished). Outpost never lets a window fill: a delivery waits until every online subscriber it
// would reach at QoS 1/2 has room, which slows the publishers down (their
// pipelines fill, then their sockets).
//
// Offline persistent sessions do not hold publishers back: mochi queues for
// them up to MaxInflight messages and MaxInflightBytes of payload, and
// counts what overflows.
type flow struct {
	srv   *mqtt.Server
	limit int // per-subscriber inflight bound before roomSlack
	// bytes bounds a subscriber's inflight payload bytes: half of
	// MaxInflightBytes, the rest left to deliveries that bypass the gate.
	bytes int

	// mu serialises check-then-deliver, so concurrent publishers cannot
	// overshoot a subscriber's window together. It is held across inject,
	// and mochi calls hooks (OnQosComplete, hence signal) from inside
	// inject: nothing signal does may take it.
	mu sync.Mutex
	// room is closed and replaced whenever a subscriber's window shrinks.
	room atomic.Pointer[chan struct{}]
	// waiting counts deliveries waiting for room, so signal is free when none.
	waiting atomic.Int32

	// subs caches, per topic, the QoS 1/2 subscriptions a delivery must find
	// room at: mochi's Topics.Subscribers allocates a dozen maps per call,
	// and mochi calls it again to deliver. Guarded by mu; emptied when gen
	// moves past subsGen (any subscribe or unsubscribe) or it is full. A
	// removed subscription left in it is harmless (fits finds no client or
	// room enough); an added one is never missed, since gen is read before
	// the index is.
	subs    map[string][]roomSub
	subsGen uint64
	gen     atomic.Uint64
}

func newFlow(srv *mqtt.Server, limit, bytes int) *flow {
	f := &flow{srv: srv, limit: limit, bytes: bytes, subs: map[string][]roomSub{}}
	ch := make(chan struct{})
	f.room.Store(&ch)
	return f
}

// signal wakes every waiting delivery. It never blocks and takes no lock:
// it runs inside mochi's hooks, also under deliver's mu.
func (f *flow) signal() {
	if f.waiting.Load() == 0 {
		return
	}
	next := make(chan struct{})
	close(*f.room.Swap(&next))
}

// deliver runs inject for pk once every subscriber has room, or when done
// closes. It reports how many times it had to wait.
func (f *flow) deliver(pk *packets.Packet, done <-chan struct{}, inject func()) (waits int) {
	if pk.FixedHeader.Qos == 0 {
		f.mu.Lock()
		inject()
		f.mu.Unlock()
		return 0
	}
	for {
		// Count as waiting and take the channel before checking: a signal
		// after the check then closes the channel this delivery waits on.
		f.waiting.Add(1)
		ch := *f.room.Load()
		f.mu.Lock()
		if f.hasRoom(pk) {
			f.waiting.Add(-1)
			inject()
			f.mu.Unlock()
			return waits
		}
		f.mu.Unlock()
		waits++
		t := time.NewTimer(roomRecheck)
		select {
		case <-ch:
		case <-t.C:
		case <-done:
		}
		t.Stop()
		f.waiting.Add(-1)
		select {
		case <-done:
			return waits
		default:
		}
	}
}

// subscriptionsChanged empties the gate's subscription cache. mochi's
// OnSubscribed and OnUnsubscribed hooks call it.
func (f *flow) subscriptionsChanged() { f.gen.Add(1) }

// hasRoom reports whether every online subscriber that would get pk at QoS
// 1 or 2 can take one more inflight message, by count and by bytes. Caller
// holds f.mu.
func (f *flow) hasRoom(pk *packets.Packet) bool {
	for _, sub := range f.subscriptions(pk.TopicName) {
		if !f.fits(sub, pk) {
			return false
		}
	}
	return true
}

// subscriptions returns the QoS 1/2 subscriptions that match topic, shared
// groups' members included. Caller holds f.mu.
func (f *flow) subscriptions(topic string) []roomSub {
	if g := f.gen.Load(); g != f.subsGen || len(f.subs) >= roomCacheTopics {
		clear(f.subs)
		f.subsGen = g
	}
	if subs, ok := f.subs[topic]; ok {
		return subs
	}
	var subs []roomSub
	add := func(id string, sub packets.Subscription) {
		if sub.Qos > 0 {
			subs = append(subs, roomSub{id: id, noLocal: sub.NoLocal})
		}
	}
	all := f.srv.Topics.Subscribers(topic)
	for id, sub := range all.Subscriptions {
		add(id, sub)
	}
	for _, group := range all.Shared {
		for id, sub := range group {
			add(id, sub)
		}
	}
	f.subs[topic] = subs
	return subs
}

func (f *flow) fits(sub roomSub, pk *packets.Packet) bool {
	cl, ok := f.srv.Clients.Get(sub.id)
	if !ok || cl.Closed() || cl.Net.Inline {
		return true
	}
	if sub.noLocal && pk.Origin == sub.id {
		return true
	}
	limit := f.limit
	if rm := int(cl.Properties.Props.ReceiveMaximum); rm > 0 && rm < limit {
		limit = rm
	}
	limit -= roomSlack
	if limit < 1 {
		limit = 1
	}
	n, bytes := cl.State.Inflight.LenBytes()
	return n < limit && (n == 0 || bytes+len(pk.Payload) <= f.bytes)
}
