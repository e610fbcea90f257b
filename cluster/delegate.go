package cluster

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/hashicorp/memberlist"
)

// Meta is a node's metadata, gossiped as JSON in memberlist's node meta.
type Meta struct {
	ID      string `json:"id"`
	MQTT    string `json:"mqtt,omitempty"`
	HTTP    string `json:"http,omitempty"`
	Data    string `json:"data"`
	Version string `json:"version,omitempty"`
}

// delegate implements memberlist's delegates for a Cluster. No method blocks:
// each takes a short mutex or signals a buffered channel.
type delegate struct {
	c *Cluster
}

var (
	_ memberlist.Delegate      = delegate{}
	_ memberlist.EventDelegate = delegate{}
	_ memberlist.AliveDelegate = delegate{}
	_ memberlist.MergeDelegate = delegate{}
)

// NodeMeta returns this node's Meta (memberlist limits it to limit bytes).
func (d delegate) NodeMeta(limit int) []byte {
	b := d.c.meta
	if len(b) > limit {
		return nil
	}
	return b
}

// Gossip message kinds: the first byte of every user message.
const (
	msgInterest byte = 'i'
	msgClaim    byte = 's'
)

// NotifyMsg receives a broadcast. News is gossiped on (epidemic spread);
// anything already known stops here, so duplicates die out.
func (d delegate) NotifyMsg(b []byte) {
	if len(b) < 2 {
		return
	}
	switch b[0] {
	case msgInterest:
		var s interestState
		if json.Unmarshal(b[1:], &s) == nil && s.Node != "" && d.c.interest.apply(s) && len(b) <= maxGossip {
			d.c.queue.QueueBroadcast(keyedBroadcast{key: "i/" + s.Node, msg: append([]byte(nil), b...)})
		}
	case msgClaim:
		var s sessionClaim
		if json.Unmarshal(b[1:], &s) == nil && s.Client != "" && d.c.claims.apply(s, d.c.opts.NodeName) {
			d.c.queue.QueueBroadcast(keyedBroadcast{key: "s/" + s.Client, msg: append([]byte(nil), b...)})
		}
	}
}

// GetBroadcasts returns queued interest broadcasts.
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.c.queue.GetBroadcasts(overhead, limit)
}

// LocalState is the push/pull full state: every known interest.
func (d delegate) LocalState(join bool) []byte { return d.c.interest.snapshot() }

// MergeRemoteState applies a peer's full state.
func (d delegate) MergeRemoteState(buf []byte, join bool) { d.c.interest.merge(buf) }

// NotifyJoin, NotifyLeave and NotifyUpdate record the peer and ask the
// cluster to reconcile its forwarders. memberlist calls them holding its node
// lock, the only time *Node may be read without racing (Members() hands out
// the same pointers memberlist keeps mutating), so they copy what they need.
func (d delegate) NotifyJoin(n *memberlist.Node)   { d.c.membershipChanged(n, "alive") }
func (d delegate) NotifyUpdate(n *memberlist.Node) { d.c.membershipChanged(n, "alive") }
func (d delegate) NotifyLeave(n *memberlist.Node) {
	state := "dead"
	if n.State == memberlist.StateLeft {
		state = "left"
	}
	d.c.membershipChanged(n, state)
}

// NotifyAlive refuses a non-loopback peer when there is no secret key.
func (d delegate) NotifyAlive(n *memberlist.Node) error { return d.c.allowed(n) }

// NotifyMerge refuses a push/pull merge that would bring in a refused peer.
func (d delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if err := d.c.allowed(n); err != nil {
			return err
		}
	}
	return nil
}

// allowed refuses non-loopback peers unless gossip is encrypted.
func (c *Cluster) allowed(n *memberlist.Node) error {
	if c.key != nil || n.Addr.IsLoopback() {
		return nil
	}
	c.log.Warn().Str("peer", n.Name).Stringer("addr", n.Addr).Msg("refusing non-loopback peer: secret_key is not set")
	return fmt.Errorf("peer %s at %s: %w", n.Name, n.Addr, ErrNotLoopback)
}

// keyedBroadcast is one gossip message; a newer one with the same key (one
// node's interest, one client id's claim) invalidates it in the queue. Only
// news is queued, so the newer message is always the one to keep.
type keyedBroadcast struct {
	key string
	msg []byte
}

func (b keyedBroadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(keyedBroadcast)
	return ok && ob.key == b.key
}
func (b keyedBroadcast) Message() []byte { return b.msg }
func (b keyedBroadcast) Finished()       {}

// encodeMsg prefixes the JSON of v with its kind.
func encodeMsg(kind byte, v any) []byte {
	b, _ := json.Marshal(v) // strings and integers only: cannot fail
	return append([]byte{kind}, b...)
}

// metaOf decodes a node's Meta; ok is false for a node that is not ours.
func metaOf(n *memberlist.Node) (Meta, bool) {
	var m Meta
	if json.Unmarshal(n.Meta, &m) != nil || m.ID == "" || m.Data == "" {
		return Meta{}, false
	}
	return m, true
}

// remoteLoopback reports whether a connection's peer is on loopback.
func remoteLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}
