// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2023 mochi-mqtt, mochi-co
// SPDX-FileContributor: mochi-co

package mqtt

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Inflight is a map of InflightMessage keyed on packet id.
type Inflight struct {
	sync.RWMutex
	internal            map[uint16]inflightSlot // internal contains the inflight packets (outpost: pooled pointers, with their order)
	parked              []uint16                // outpost: ids of the packets parked over the send quota, oldest first
	sendMu              sync.Mutex              // outpost: held by Client.sendParked, so parked packets leave in order
	receiveQuota        int32                   // remaining inbound qos quota for flow control
	sendQuota           int32                   // remaining outbound qos quota for flow control
	maximumReceiveQuota int32                   // maximum allowed receive quota
	maximumSendQuota    int32                   // maximum allowed send quota
	bytes               int                     // outpost: payload bytes of the packets in internal
	seq                 uint64                  // outpost: the last inflightSlot.seq given
	sealed              bool                    // outpost (change 20): moved to a new client (MoveTo); SetNew adds nothing
}

// inflightSlot is a packet of an Inflight and when it was first set (outpost).
type inflightSlot struct {
	p   *packets.Packet
	seq uint64
}

// NewInflights returns a new instance of an Inflight packets map.
func NewInflights() *Inflight {
	return &Inflight{
		internal: map[uint16]inflightSlot{},
	}
}

// Set adds or updates an inflight packet by packet id.
//
// outpost: a packet set with Expiry -1 is parked: a delivery over the client's send quota, not yet
// sent. It joins the queue of parked ones, behind those parked before it (Unpark).
func (i *Inflight) Set(m packets.Packet) bool {
	i.Lock()
	defer i.Unlock()
	return i.setLocked(m)
}

func (i *Inflight) setLocked(m packets.Packet) bool {
	if s, ok := i.internal[m.PacketID]; ok {
		p := s.p
		if m.Expiry < 0 && p.Expiry >= 0 {
			i.parked = append(i.parked, m.PacketID)
		}
		i.bytes += len(m.Payload) - len(p.Payload)
		*p = m
		return false
	}
	i.bytes += len(m.Payload)
	i.seq++
	// outpost: pooled (pooledPackets). A map whose values are 800-byte packets stores each value
	// out of line, so every Set allocated one. The pointers never leave the Inflight (callers get
	// copies, under the lock), so Delete can hand a packet back.
	i.internal[m.PacketID] = inflightSlot{getPacket(m), i.seq}
	if m.Expiry < 0 {
		i.parked = append(i.parked, m.PacketID)
	}
	return true
}

// Get returns an inflight packet by packet id.
func (i *Inflight) Get(id uint16) (packets.Packet, bool) {
	i.RLock()
	defer i.RUnlock()

	if s, ok := i.internal[id]; ok {
		return *s.p, true
	}

	return packets.Packet{}, false
}

// LenBytes returns Len and the payload bytes of the inflight messages, under one lock (outpost).
func (i *Inflight) LenBytes() (n, bytes int) {
	i.RLock()
	defer i.RUnlock()
	return len(i.internal), i.bytes
}

// Len returns the size of the inflight messages map.
func (i *Inflight) Len() int {
	i.RLock()
	defer i.RUnlock()
	return len(i.internal)
}

// Clone returns a new instance of Inflight with the same message data.
// This is used when transferring inflights from a taken-over session.
func (i *Inflight) Clone() *Inflight {
	c := NewInflights()
	i.RLock()
	defer i.RUnlock()
	for k, v := range i.internal {
		p := new(packets.Packet)
		*p = *v.p
		c.internal[k] = inflightSlot{p, v.seq}
	}
	c.parked = append([]uint16(nil), i.parked...)
	c.bytes, c.seq = i.bytes, i.seq
	return c
}

// MoveTo moves the inflight messages into to, which holds none, and leaves i
// empty and refusing every later SetNew: the session moves to a new client,
// and a delivery racing the move must go to that client (outpost,
// OUTPOST.md change 20). Into to, which the new client already holds, so a
// delivery redirected there cannot land in an Inflight about to be replaced;
// moved, not copied, so the old client holds nothing for ClearInflights to
// report dropped, which made the state hooks delete the stored messages the
// new client had just taken.
func (i *Inflight) MoveTo(to *Inflight) {
	i.Lock()
	defer i.Unlock()
	to.Lock()
	defer to.Unlock()
	i.sealed = true
	to.internal, to.parked, to.bytes, to.seq = i.internal, i.parked, i.bytes, i.seq
	i.internal, i.parked, i.bytes = map[uint16]inflightSlot{}, nil, 0
}

// SetNew adds or replaces m as Set does, unless MoveTo was called: then it
// stores nothing and reports sealed (outpost, change 20).
func (i *Inflight) SetNew(m packets.Packet) (added, sealed bool) {
	i.Lock()
	defer i.Unlock()
	if i.sealed {
		return false, true
	}
	return i.setLocked(m), false
}

// GetAll returns all the inflight messages.
func (i *Inflight) GetAll(immediate bool) []packets.Packet {
	i.RLock()
	defer i.RUnlock()

	// outpost: in the order they were first set. v2.7.9 sorted by the low 16 bits of the creation
	// second, so the messages queued within one second for an offline session came back on its
	// reconnect in the map's random order.
	slots := []inflightSlot{}
	for _, v := range i.internal {
		if !immediate || (immediate && v.p.Expiry < 0) {
			slots = append(slots, v)
		}
	}
	slices.SortFunc(slots, func(a, b inflightSlot) int { return cmp.Compare(a.seq, b.seq) })
	m := make([]packets.Packet, len(slots))
	for k, v := range slots {
		m[k] = *v.p
	}

	return m
}

// NextImmediate returns the next inflight packet which is indicated to be sent immediately.
// This typically occurs when the quota has been exhausted, and we need to wait until new quota
// is free to continue sending.
//
// outpost: the oldest parked packet (see Set). v2.7.9 took the read lock twice (here and in
// GetAll), which deadlocks when a writer queues for the lock in between, and ordered the parked
// packets by their creation second, so packets parked within one second went out in any order.
func (i *Inflight) NextImmediate() (packets.Packet, bool) {
	i.RLock()
	defer i.RUnlock()
	for _, id := range i.parked {
		if s, ok := i.internal[id]; ok && s.p.Expiry < 0 {
			return *s.p, true
		}
	}
	return packets.Packet{}, false
}

// Unpark takes the oldest parked packet off the queue, gives it the Expiry expiry returns for
// it, and returns a copy to send (outpost). The packet stays inflight until it is acknowledged,
// like any other sent one: v2.7.9 deleted it once written, so its PUBACK found nothing and never
// gave its send quota back, and a client that had once used its whole Receive Maximum stalled.
func (i *Inflight) Unpark(expiry func(*packets.Packet) int64) (packets.Packet, bool) {
	i.Lock()
	defer i.Unlock()
	for len(i.parked) > 0 {
		id := i.parked[0]
		i.parked = i.parked[1:]
		if s, ok := i.internal[id]; ok && s.p.Expiry < 0 {
			s.p.Expiry = expiry(s.p)
			return *s.p, true
		}
	}
	i.parked = nil
	return packets.Packet{}, false
}

// Delete removes an in-flight message from the map. Returns true if the message existed.
func (i *Inflight) Delete(id uint16) bool {
	i.Lock()
	defer i.Unlock()

	s, ok := i.internal[id]
	if !ok {
		return false
	}
	p := s.p
	if p.Expiry < 0 { // outpost: parked, so queued in parked too
		i.parked = slices.DeleteFunc(i.parked, func(v uint16) bool { return v == id })
	}
	i.bytes -= len(p.Payload)
	delete(i.internal, id)
	putPacket(p)
	return true
}

// TakeRecieveQuota reduces the receive quota by 1.
func (i *Inflight) DecreaseReceiveQuota() {
	if atomic.LoadInt32(&i.receiveQuota) > 0 {
		atomic.AddInt32(&i.receiveQuota, -1)
	}
}

// TakeRecieveQuota increases the receive quota by 1.
func (i *Inflight) IncreaseReceiveQuota() {
	if atomic.LoadInt32(&i.receiveQuota) < atomic.LoadInt32(&i.maximumReceiveQuota) {
		atomic.AddInt32(&i.receiveQuota, 1)
	}
}

// ResetReceiveQuota resets the receive quota to the maximum allowed value.
func (i *Inflight) ResetReceiveQuota(n int32) {
	atomic.StoreInt32(&i.receiveQuota, n)
	atomic.StoreInt32(&i.maximumReceiveQuota, n)
}

// DecreaseSendQuota reduces the send quota by 1.
func (i *Inflight) DecreaseSendQuota() {
	if atomic.LoadInt32(&i.sendQuota) > 0 {
		atomic.AddInt32(&i.sendQuota, -1)
	}
}

// IncreaseSendQuota increases the send quota by 1.
func (i *Inflight) IncreaseSendQuota() {
	if atomic.LoadInt32(&i.sendQuota) < atomic.LoadInt32(&i.maximumSendQuota) {
		atomic.AddInt32(&i.sendQuota, 1)
	}
}

// ResetSendQuota resets the send quota to the maximum allowed value.
func (i *Inflight) ResetSendQuota(n int32) {
	atomic.StoreInt32(&i.sendQuota, n)
	atomic.StoreInt32(&i.maximumSendQuota, n)
}
