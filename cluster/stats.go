package cluster

import (
	"slices"
	"strings"
)

// Stats is a snapshot of the node's data plane.
type Stats struct {
	// Forwarders has one entry per live peer, by peer name.
	Forwarders []ForwarderStats `json:"forwarders"`
	// Origins has one entry per peer that has sent this node messages, by name.
	Origins []OriginStats `json:"origins"`
	// RetainedRestores counts remote retained winners put back after an older local retained publish.
	RetainedRestores uint64 `json:"retained_restores"`
	// TakeOvers counts other nodes' client connections handed to Sessions.
	TakeOvers uint64 `json:"take_overs"`
}

// ForwarderStats describes the forwarder to one peer.
type ForwarderStats struct {
	Peer  string `json:"peer"`
	Addr  string `json:"addr"`  // the peer's data-plane address
	State string `json:"state"` // connecting, streaming or stopped
	// Cursor is the last acked position; Lag is NextOffset - Cursor (records, matching or not).
	Cursor uint64 `json:"cursor"`
	Lag    uint64 `json:"lag"`
	// Sent counts messages written (a resend after a reconnect counts again).
	Sent    uint64 `json:"sent"`
	Batches uint64 `json:"batches"`
	// Skipped counts offsets not forwarded because the peer was away longer than the catch-up window.
	Skipped uint64 `json:"skipped"`
}

// OriginStats describes what this node received from one peer.
type OriginStats struct {
	Origin     string `json:"origin"`
	Delivered  uint64 `json:"delivered"`
	Duplicates uint64 `json:"duplicates"`
	HighWater  uint64 `json:"high_water"`
}

// Stats returns the forwarder and receiver counters.
func (c *Cluster) Stats() Stats {
	s := Stats{RetainedRestores: c.retainRestores.Load(), TakeOvers: c.claims.applied.Load()}
	next := c.clog.NextOffset()
	c.mu.Lock()
	for _, f := range c.forwarders {
		cur := f.acked.Load()
		s.Forwarders = append(s.Forwarders, ForwarderStats{
			Peer: f.peer, Addr: f.addr, State: f.state.Load().(string), Cursor: cur, Lag: next - min(cur, next),
			Sent: f.sent.Load(), Batches: f.batches.Load(), Skipped: f.skipped.Load(),
		})
	}
	c.mu.Unlock()
	if c.recv != nil {
		c.recv.mu.Lock()
		for name, o := range c.recv.origins {
			s.Origins = append(s.Origins, OriginStats{Origin: name, Delivered: o.delivered.Load(), Duplicates: o.dups.Load(), HighWater: o.hwm.Load()})
		}
		c.recv.mu.Unlock()
	}
	slices.SortFunc(s.Forwarders, func(a, b ForwarderStats) int { return strings.Compare(a.Peer, b.Peer) })
	slices.SortFunc(s.Origins, func(a, b OriginStats) int { return strings.Compare(a.Origin, b.Origin) })
	return s
}
