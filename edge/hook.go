package edge

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/outpost-edge/outpost/storage"
)

// coreHook is the broker's single decision point: ingest, authentication,
// flow signals and counters. mochi ORs auth hooks, so no other hook may
// answer OnConnectAuthenticate or OnACLCheck.
type coreHook struct {
	mqtt.HookBase
	b *Broker
}

var _ mqtt.Hook = (*coreHook)(nil)

func (h *coreHook) ID() string { return "outpost-core" }

// coreEvents are the events coreHook handles.
var coreEvents = eventsOf(mqtt.OnConnectAuthenticate, mqtt.OnPacketRead, mqtt.OnClientExpired,
	mqtt.OnACLCheck, mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnUnsubscribed, mqtt.OnPublish,
	mqtt.OnPublishDropped, mqtt.OnQosComplete, mqtt.OnQosDropped, mqtt.OnDisconnect, mqtt.OnWillSent,
	mqtt.OnSessionEstablished)

func (h *coreHook) Provides(b byte) bool { return coreEvents.has(b) }

// eventSet is a set of mochi hook events. mochi asks every hook whether it
// provides an event before each call, several times per message, so the
// answer is one bit test (bytes.Contains over a literal was 1.4% of the
// node's CPU waiting for acks).
type eventSet uint64

func eventsOf(events ...byte) eventSet {
	var s eventSet
	for _, e := range events {
		if e >= 64 {
			panic("edge: hook event out of eventSet's range")
		}
		s |= 1 << e
	}
	return s
}

func (s eventSet) has(e byte) bool { return e < 64 && s&(1<<e) != 0 }

// OnSessionEstablished switches mochi's own outbound flow control off for the
// client: the flow gate enforces the client's Receive Maximum instead, holding
// deliveries back in the log rather than parking them in mochi's inflight
// store. (v2.7.9's parking stalled for good once the quota was reached; our
// copy fixes it, change 12 in third_party/mochi-mqtt-server/OUTPOST.md, for
// firmware-sim's test broker, which runs plain mochi.) With a send quota of 0
// mochi never parks.
//
// A clean start also ends the inbound QoS 2 exchanges of the old session.
func (h *coreHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	cl.State.Inflight.ResetSendQuota(0)
	if pk.Connect.Clean {
		h.b.qos2.forget(cl.ID)
	}
}

// OnPacketRead keeps the two directions' packet ids apart (ids.go).
func (h *coreHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	return h.b.onPacketRead(cl, pk), nil
}

func (h *coreHook) OnClientExpired(cl *mqtt.Client) { h.b.qos2.forget(cl.ID) }

// OnConnectAuthenticate is the one authentication decision (security.go):
// a client certificate, a password from the users file, or anonymous access
// where the listener allows it.
func (h *coreHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return h.b.authenticate(cl, pk)
}

// OnACLCheck is the one authorisation decision, for publishes, subscription
// filters and every delivery's topic (mochi checks all three).
func (h *coreHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return h.b.allowed(cl, topic, write)
}

// OnSubscribe refuses filters over the topic and subscription bounds.
func (h *coreHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline {
		return pk
	}
	return h.b.limitSubscribe(cl, pk)
}

// OnPublish queues a client's PUBLISH for the log and stops mochi from
// acknowledging or delivering it. Inline publishes pass: among them what the
// pipeline injects after the append, marked with its publisher's id, which
// becomes the packet's origin again (NoLocal, retained messages' owner).
func (h *coreHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		if id, ok := strings.CutPrefix(pk.Connect.ClientIdentifier, persistedMark); ok {
			pk.Connect.ClientIdentifier, pk.Origin = "", id
		}
		return pk, nil
	}
	if pk.FixedHeader.Qos > 0 {
		h.b.displaced.restore(h.b.srv, cl, pk.PacketID)
	}
	h.b.throttle(cl)
	h.b.stats.received(pk.FixedHeader.Qos, len(pk.Payload))
	h.b.ingest.submit(cl, newPending(pk))
	return pk, errRejectPacket
}

// errRejectPacket is packets.ErrRejectPacket as an error, boxed once: mochi's
// codes are structs, so returning one as an error allocates on every publish.
var errRejectPacket error = packets.ErrRejectPacket

func (h *coreHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	if pk.FixedHeader.Qos == 0 {
		h.b.stats.droppedQoS0.Add(1)
		return
	}
	h.b.stats.droppedQoS12.Add(1)
	h.b.log.Warn().Str("client", cl.ID).Str("topic", pk.TopicName).Msg("qos>0 delivery dropped by a full client queue")
}

func (h *coreHook) OnSubscribed(*mqtt.Client, packets.Packet, []byte) {
	h.b.flow.subscriptionsChanged()
}
func (h *coreHook) OnUnsubscribed(*mqtt.Client, packets.Packet) { h.b.flow.subscriptionsChanged() }

func (h *coreHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) { h.b.flow.signal() }
func (h *coreHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet)  { h.b.flow.signal() }

func (h *coreHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.b.sec.forget(cl)
	h.b.ingest.forget(cl)
	h.b.displaced.drop(cl)
	if expire {
		h.b.qos2.forget(cl.ID)
	}
	h.b.flow.signal()
}

// OnWillSent logs a will message after mochi delivered it: wills are not
// acknowledged to anyone, so the append is best effort.
func (h *coreHook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	rec := recordOf(cl.ID, &pk)
	if _, err := h.b.opts.Log.Append(h.b.ctx, []storage.Record{rec}); err != nil {
		h.b.log.Warn().Err(err).Str("client", cl.ID).Msg("will not logged")
	}
}
