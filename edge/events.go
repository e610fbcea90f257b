package edge

import (
	"context"
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
	// RetainLocal, when set, is given the fan-out of a local retained
	// publish that the log holds at offset. It calls store once, with
	// superseded true when another node's newer retained message has
	// replaced this one: the message is then delivered but not retained.
	RetainLocal func(ctx context.Context, topic string, offset uint64, store func(superseded bool))
}

// eventsHook reports connections and subscription changes to Events. It
// answers no auth or ACL question; who is connected since when is the
// security layer's table (secTable).
type eventsHook struct {
	mqtt.HookBase
	b  *Broker
	ev Events
}

var _ mqtt.Hook = (*eventsHook)(nil)

func newEventsHook(b *Broker, ev Events) *eventsHook { return &eventsHook{b: b, ev: ev} }

func (h *eventsHook) ID() string { return "outpost-events" }

// eventsEvents are the events eventsHook reports.
var eventsEvents = eventsOf(mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnSubscribed,
	mqtt.OnUnsubscribed, mqtt.OnClientExpired)

func (h *eventsHook) Provides(b byte) bool { return eventsEvents.has(b) }

func (h *eventsHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	if s := h.b.sec.get(cl); s != nil && h.ev.ClientConnected != nil {
		h.ev.ClientConnected(cl.ID, s.user, s.at)
	}
	if cl.State.Subscriptions.Len() > 0 { // a resumed session brings its subscriptions back
		h.changed()
	}
}

func (h *eventsHook) OnDisconnect(_ *mqtt.Client, _ error, expire bool) {
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
	s := b.sec.live(clientID)
	switch {
	case s == nil || !s.at.Before(connectedAt):
	case s.user != user:
		b.log.Warn().Str("client", clientID).Str("claimed_by", user).
			Msg("client id connected on another node as another user: not taken over")
	default:
		b.stats.takeovers.Add(1)
		b.log.Info().Str("client", clientID).Str("user", user).Time("other_connected_at", connectedAt).
			Msg("client id connected on another node: session taken over")
		_ = b.srv.DisconnectClient(s.cl, packets.ErrSessionTakenOver)
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
	if out, r, changed := b.srv.RetainWithin(rec.Origin, pk); changed { // mochi logs a refusal
		b.state.OnRetainMessage(b.inline, out, r)
	}
	return ctx.Err()
}
