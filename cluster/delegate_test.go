package cluster

import (
	"encoding/json"
	"testing"

	"github.com/hashicorp/memberlist"
)

// gossipOnly builds a Cluster without network, enough to drive its delegate.
func gossipOnly(tb testing.TB) *Cluster {
	subs := newMemSubs()
	c, err := New(DefaultOptions("self"), newMemLog("self"), subs, subs)
	if err != nil {
		tb.Fatal(err)
	}
	c.queue = &memberlist.TransmitLimitedQueue{NumNodes: func() int { return 3 }, RetransmitMult: 3}
	return c
}

func TestGossipIsIdempotent(t *testing.T) {
	c := gossipOnly(t)
	d := delegate{c}
	msg := func(v uint64, f ...string) []byte {
		return encodeMsg(msgInterest, interestState{Node: "x", Version: v, Filters: f})
	}
	d.NotifyMsg(msg(5, "new/#"))
	d.NotifyMsg(msg(3, "old/#")) // reordered: older arrives later
	d.NotifyMsg(msg(5, "new/#")) // duplicate
	if f, _ := c.interest.filters("x"); len(f) != 1 || f[0] != "new/#" {
		t.Fatalf("filters %v after reordered and duplicated gossip", f)
	}
	if n := c.queue.NumQueued(); n != 1 {
		t.Fatalf("%d broadcasts queued, want 1: only news is re-gossiped", n)
	}
	// A full-state merge with an older version changes nothing either.
	old, _ := json.Marshal([]interestState{{Node: "x", Version: 4, Filters: []string{"stale"}}})
	d.MergeRemoteState(old, false)
	if f, _ := c.interest.filters("x"); f[0] != "new/#" {
		t.Fatalf("push/pull with an older version replaced %v", f)
	}
}

// FuzzGossip feeds arbitrary bytes to the gossip entry points: they never
// panic and a node's interest version never goes backwards.
func FuzzGossip(f *testing.F) {
	f.Add(encodeMsg(msgInterest, interestState{Node: "x", Version: 2, Filters: []string{"a"}}), false)
	f.Add(encodeMsg(msgClaim, sessionClaim{Client: "c", Node: "x", At: 1}), false)
	f.Add([]byte(`[{"n":"x","v":9,"f":["#"]}]`), true)
	f.Fuzz(func(t *testing.T, b []byte, merge bool) {
		c := gossipOnly(t)
		d := delegate{c}
		d.NotifyMsg(encodeMsg(msgInterest, interestState{Node: "x", Version: 7}))
		if merge {
			d.MergeRemoteState(b, false)
		} else {
			d.NotifyMsg(b)
		}
		if s, _ := c.interest.get("x"); s.Version < 7 {
			t.Fatalf("version went back to %d", s.Version)
		}
	})
}
