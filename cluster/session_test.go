package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestClientTakeOver: a connection announced on one node reaches every other
// node's Sessions exactly once; an older claim is ignored; a newer one on
// another node takes over again.
func TestClientTakeOver(t *testing.T) {
	nodes := startNodes(t, newNetCut(), nil, nil, nil)
	a, b, c := nodes[0], nodes[1], nodes[2]
	t1 := time.Now()
	t0, t2 := t1.Add(-time.Second), t1.Add(time.Second)
	claim := func(at time.Time) string { return fmt.Sprintf("dev1/u1@%d", at.UnixNano()) }
	expect := func(n *node, want ...string) func() bool {
		return func() bool { return slices.Equal(n.subs.takeOvers(), want) }
	}

	a.c.ClientConnected("dev1", "u1", t1)
	eventually(t, 10*time.Second, "b and c told of a's connection", func() bool {
		return expect(b, claim(t1))() && expect(c, claim(t1))()
	})
	c.c.ClientConnected("dev1", "u1", t0) // stale: c already knows a newer connection
	b.c.ClientConnected("dev1", "u1", t2)
	eventually(t, 10*time.Second, "a and c told of b's connection", func() bool {
		return expect(a, claim(t2))() && expect(c, claim(t1), claim(t2))()
	})
	if got := b.subs.takeOvers(); !slices.Equal(got, []string{claim(t1)}) {
		t.Fatalf("b's take-overs %v: its own claim or a stale one reached it", got)
	}
}
