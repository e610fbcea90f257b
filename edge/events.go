package edge

import (
	"context"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/outpost-edge/outpost/storage"
)

// Events are notifications for the rest of the node (the cluster). Each
// callback runs on a client's goroutine inside mochi: it must not block.
type Events struct {
	// SubscriptionsChanged is called after a client subscribed or
	// unsubscribed, or a session with subscriptions ended. Filters then
	// returns the new set.
	SubscriptionsChanged func()
	// ClientConnected is called when a client's session is established,
	// with its authenticated user ("" anonymous) and the time it connected.
	ClientConnected func(clientID, user string, at time.Time)
}

// eventsHook tracks connection times (for TakeOver) and reports
// subscription changes. It answers no auth or ACL question.
type eventsHook struct {
	mqtt.HookBase
	b  *Broker
	ev Events
	// mu guards conns.
	mu    sync.Mutex
	conns map[string]connInfo
}

// connInfo is the live connection of one client id.
type connInfo struct {
	cl *mqtt.Client
	at time.Time
}

var _ mqtt.Hook = (*eventsHook)(nil)

func newEventsHook(b *Broker, ev Events) *eventsHook {
	return &eventsHook{b: b, ev: ev, conns: map[string]connInfo{}}
}

func (h *eventsHook) ID() string { return "outpost-events" }

func (h *eventsHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnSubscribed,
		mqtt.OnUnsubscribed, mqtt.OnClientExpired:
		return true
	}
	return false
}

func (h *eventsHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	now := time.Now()
	h.mu.Lock()
	h.conns[cl.ID] = connInfo{cl: cl, at: now}
	h.mu.Unlock()
	if h.ev.ClientConnected != nil {
		h.ev.ClientConnected(cl.ID, string(cl.Properties.Username), now)
	}
	if cl.State.Subscriptions.Len() > 0 { // a resumed session brings its subscriptions back
		h.changed()
	}
}

func (h *eventsHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	h.mu.Lock()
	if c, ok := h.conns[cl.ID]; ok && c.cl == cl {
		delete(h.conns, cl.ID)
	}
	h.mu.Unlock()
	if expire {
		h.changed()
	}
}

func (h *eventsHook) OnSubscribed(*mqtt.Client, packets.Packet, []byte) { h.changed() }
func (h *eventsHook) OnUnsubscribed(*mqtt.Client, packets.Packet)       { h.changed() }
func (h *eventsHook) OnClientExpired(*mqtt.Client)                      { h.changed() }

func (h *eventsHook) changed() {
	if h.ev.SubscriptionsChanged != nil {
		h.ev.SubscriptionsChanged()
	}
}

// takeOver disconnects the live connection of id if it started before at as
// user. It reports what it did: taken, or refused for another user.
func (h *eventsHook) takeOver(id, user string, at time.Time) (taken, refused bool) {
	h.mu.Lock()
	c, ok := h.conns[id]
	ok = ok && c.at.Before(at) && !c.cl.Closed()
	refused = ok && string(c.cl.Properties.Username) != user
	if ok && !refused {
		delete(h.conns, id)
	}
	h.mu.Unlock()
	if !ok || refused {
		return false, refused
	}
	_ = h.b.srv.DisconnectClient(c.cl, packets.ErrSessionTakenOver)
	return true, false
}

// Filters returns the topic filters of every session the broker holds,
// connected or not (a persistent session still wants its messages).
// Duplicates are possible. Its cost is one pass over every subscription.
func (b *Broker) Filters() []string {
	var out []string
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Inline {
			continue
		}
		for f := range cl.State.Subscriptions.GetAll() {
			out = append(out, f)
		}
	}
	return out
}

// TakeOver disconnects the local client clientID (reason 0x8E, session
// taken over) if it connected before connectedAt as the same user: the same
// client id connected on another node of the cluster. Its session state stays
// here. Another user's claim is refused and logged: a client id is no key to
// someone else's device.
func (b *Broker) TakeOver(clientID, user string, connectedAt time.Time) {
	switch taken, refused := b.events.takeOver(clientID, user, connectedAt); {
	case taken:
		b.stats.takeovers.Add(1)
		b.log.Info().Str("client", clientID).Str("user", user).Time("other_connected_at", connectedAt).
			Msg("client id connected on another node: session taken over")
	case refused:
		b.log.Warn().Str("client", clientID).Str("claimed_by", user).
			Msg("client id connected on another node as another user: not taken over")
	}
}

// Retain stores rec as its topic's retained message (an empty payload clears
// it) without delivering it to anyone and without appending it to the log.
func (b *Broker) Retain(ctx context.Context, rec storage.Record) error {
	if b.ctx.Err() != nil {
		return ErrClosed
	}
	pk := packetOf(&rec)
	pk.FixedHeader.Retain = true
	r := b.srv.Topics.RetainMessage(pk.Copy(false))
	b.state.OnRetainMessage(b.inline, pk, r)
	return ctx.Err()
}
