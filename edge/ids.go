package edge

import (
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/mempool"
	"github.com/mochi-mqtt/server/v2/packets"
)

// MQTT gives each direction of a connection its own packet identifiers, but
// mochi v2.7.9 keeps both in one Inflight map per client: the server's
// outbound QoS 1/2 messages under the ids it assigns, and the client's
// inbound QoS 2 PUBRECs under the client's ids. processPublish deletes
// whatever the map holds under an inbound PUBLISH's id, so a client that
// both publishes and subscribes could lose the record of a delivery it had
// not acknowledged yet: not resent after a reconnect, a lost QoS 1/2
// message.
//
// Outpost keeps the directions apart:
//   - Acknowledgements of inbound publishes never pass through mochi's map:
//     the ingest pipeline writes PUBACK and PUBREC after the append
//     (ackPersisted), the client's read goroutine answers PUBREL and resent
//     QoS 2 publishes (onPacketRead), and the inbound QoS 2 ids waiting for
//     PUBREL live in qos2Table.
//   - The one delete mochi still does, on the client's read goroutine
//     before OnPublish, is undone: OnPacketRead keeps the outbound entry it
//     is about to delete, and OnPublish, on the same goroutine, puts it back
//     (displaced).

// noopPacket replaces a packet the hooks have fully handled: a PUBACK for
// packet id 0, which mochi never assigns, so processPuback finds nothing
// and does nothing. A hook cannot drop a packet in OnPacketRead (an error
// there disconnects the client).
var noopPacket = packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}}

// qos2Table holds, per client id, the inbound QoS 2 packet ids that were
// stored and answered with PUBREC and wait for the client's PUBREL. It
// outlives a connection (the client resends PUBREL after reconnecting) and
// is dropped with the session. At most 65,535 ids per client.
type qos2Table struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]map[uint16]struct{}
}

func (t *qos2Table) add(client string, id uint16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]map[uint16]struct{}{}
	}
	ids := t.m[client]
	if ids == nil {
		ids = map[uint16]struct{}{}
		t.m[client] = ids
	}
	ids[id] = struct{}{}
}

func (t *qos2Table) has(client string, id uint16) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.m[client][id]
	return ok
}

// release removes id and reports whether it was there.
func (t *qos2Table) release(client string, id uint16) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := t.m[client]
	if _, ok := ids[id]; !ok {
		return false
	}
	delete(ids, id)
	if len(ids) == 0 {
		delete(t.m, client)
	}
	return true
}

func (t *qos2Table) forget(client string) {
	t.mu.Lock()
	delete(t.m, client)
	t.mu.Unlock()
}

// displaced keeps an outbound inflight entry that mochi is about to delete
// because an inbound PUBLISH carries the same id, one per client (a client's
// packets are processed one at a time, see doc.go).
type displaced struct {
	m sync.Map // *mqtt.Client -> packets.Packet
	n atomic.Int32
}

// keep is called from OnPacketRead for an inbound PUBLISH at QoS 1/2.
func (d *displaced) keep(cl *mqtt.Client, id uint16) {
	e, ok := cl.State.Inflight.Get(id)
	if !ok {
		return
	}
	// Outbound entries are the PUBLISH itself, or the PUBREL of a QoS 2
	// delivery in its second phase. A PUBREC is an inbound QoS 2 id that an
	// older Outpost kept in mochi's map: mochi answers that one itself.
	if t := e.FixedHeader.Type; t != packets.Publish && t != packets.Pubrel {
		return
	}
	if _, loaded := d.m.Swap(cl, e); !loaded {
		d.n.Add(1)
	}
}

// restore is called from OnPublish for the packet keep looked at: it puts the
// kept entry back if mochi deleted it.
func (d *displaced) restore(srv *mqtt.Server, cl *mqtt.Client, id uint16) {
	if d.n.Load() == 0 {
		return
	}
	v, ok := d.m.LoadAndDelete(cl)
	if !ok {
		return
	}
	d.n.Add(-1)
	e := v.(packets.Packet)
	if e.PacketID != id {
		return
	}
	if _, present := cl.State.Inflight.Get(id); !present && cl.State.Inflight.Set(e) {
		atomic.AddInt64(&srv.Info.Inflight, 1)
	}
}

// drop forgets what keep held for cl (the packet never reached OnPublish:
// refused by ACL, an invalid topic, or the client went away).
func (d *displaced) drop(cl *mqtt.Client) {
	if d.n.Load() == 0 {
		return
	}
	if _, ok := d.m.LoadAndDelete(cl); ok {
		d.n.Add(-1)
	}
}

// onPacketRead runs for every packet a client sends, before mochi processes
// it, one packet at a time per client (see doc.go).
func (b *Broker) onPacketRead(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		b.displaced.drop(cl)
		if pk.FixedHeader.Qos == 0 {
			return pk
		}
		if pk.FixedHeader.Qos == 2 && b.qos2.has(cl.ID, pk.PacketID) {
			// The client resent a QoS 2 message we stored and answered:
			// answer again, store nothing [MQTT-4.3.3-10].
			_ = cl.WritePacket(ackPacket(packets.Pubrec, pk.PacketID))
			return noopPacket
		}
		b.displaced.keep(cl, pk.PacketID)
	case packets.Pubrel:
		if !b.qos2.release(cl.ID, pk.PacketID) {
			if e, ok := cl.State.Inflight.Get(pk.PacketID); ok && e.FixedHeader.Type == packets.Pubrec {
				return pk // a PUBREC an older Outpost left in mochi's map: mochi completes it
			}
			// Not in the table: the node restarted since its PUBREC (the
			// table is not persisted). A PUBREC was only ever sent for a
			// message in the log, so the exchange completes with success;
			// handed to mochi, the PUBREL would complete and erase an
			// outbound delivery that happens to use the same id.
		}
		_ = cl.WritePacket(ackPacket(packets.Pubcomp, pk.PacketID))
		return noopPacket
	}
	return pk
}

// ackPersisted acknowledges the QoS 1/2 publishes of batch, which the log
// now holds: PUBACK, or PUBREC with the id kept until the client's PUBREL.
// The acks are encoded together and leave in one write under the client's
// write lock (mochi's WritePacket would make one write(2) per ack).
func (b *Broker) ackPersisted(cl *mqtt.Client, batch []*packets.Packet) {
	buf := mempool.GetBuffer()
	defer mempool.PutBuffer(buf)
	n := 0
	for _, pk := range batch {
		if pk.FixedHeader.Qos == 0 {
			continue
		}
		typ := byte(packets.Puback)
		if pk.FixedHeader.Qos == 2 {
			typ = packets.Pubrec
			b.qos2.add(cl.ID, pk.PacketID)
		}
		ack := ackPacket(typ, pk.PacketID)
		ack.ProtocolVersion = cl.Properties.ProtocolVersion
		var err error
		if typ == packets.Puback {
			err = ack.PubackEncode(buf)
		} else {
			err = ack.PubrecEncode(buf)
		}
		if err != nil {
			b.log.Error().Err(err).Str("client", cl.ID).Msg("encode ack")
			return
		}
		n++
	}
	if n == 0 || cl.Closed() || cl.Net.Conn == nil {
		return
	}
	cl.Lock()
	written, err := buf.WriteTo(cl.Net.Conn)
	cl.Unlock()
	atomic.AddInt64(&b.srv.Info.BytesSent, written)
	if err != nil {
		b.log.Debug().Err(err).Str("client", cl.ID).Msg("ack after append")
		return
	}
	atomic.AddInt64(&b.srv.Info.PacketsSent, int64(n))
}

// ackPacket is a success acknowledgement of type typ for packet id.
func ackPacket(typ byte, id uint16) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: typ}, PacketID: id}
}
