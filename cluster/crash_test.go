package cluster

import (
	"sync/atomic"
	"testing"
	"time"
)

// crash stops n without leaving the cluster, so peers detect a failure, not
// a departure; its log (cursors included) survives.
func crash(n *node) { _ = n.c.close(false) }

// TestNodeCrashRestart: b fails under load; a and c keep serving each other;
// b restarts on the same addresses with the same log, rejoins, and its
// forwarders resume from their cursors: c gets every message of b exactly
// once, and b gets what a published while it was down.
func TestNodeCrashRestart(t *testing.T) {
	cut := newNetCut()
	nodes := startNodes(t, cut, []string{"s/#"}, []string{"s/#"}, []string{"s/#"})
	a, b, c := nodes[0], nodes[1], nodes[2]
	var stop atomic.Bool
	published := make(chan int)
	go func() { // a publishes throughout
		i := 0
		for ; !stop.Load(); i++ {
			publish(a, "s/a", 1)
			time.Sleep(time.Millisecond)
		}
		published <- i
	}()
	publish(b, "s/b", 500)
	crash(b)

	eventually(t, 30*time.Second, "a and c see b gone", func() bool {
		return len(a.c.Stats().Forwarders) == 1 && len(c.c.Stats().Forwarders) == 1
	})
	seen := len(c.subs.received("s/#"))
	eventually(t, 10*time.Second, "c still receives from a", func() bool { return len(c.subs.received("s/#")) > seen+50 })

	addrs := func(o *Options) { o.BindAddr, o.DataAddr = b.c.gossipAddr, b.c.recv.ln.Addr().String() }
	b2 := startNode(t, cut, nodeSpec{name: "b", seed: a.c.gossipAddr, log: b.log, edit: addrs, filters: []string{"s/#"}})
	waitConverged(t, []*node{a, b2, c}, 30*time.Second)
	stop.Store(true)
	total := <-published

	eventually(t, 20*time.Second, "c has everything", func() bool { return len(c.subs.received("s/#")) == total+500 })
	checkStream(t, "c", c.subs.received("s/#"), b, 500)
	checkStream(t, "c", c.subs.received("s/#"), a, total)
	eventually(t, 20*time.Second, "b has the rest of a's stream", func() bool {
		got := b2.subs.received("s/#")
		return len(got) > 0 && got[len(got)-1].Offset == uint64(total-1)
	})
	got := b2.subs.received("s/#")
	var before uint64 // next offset of a that b had not received before the crash
	for _, m := range b.subs.received("s/#") {
		if m.Origin == "a" {
			before = m.Offset + 1
		}
	}
	if got[0].Offset > before {
		t.Fatalf("restarted b starts at a's offset %d; before the crash it had all below %d: it missed messages", got[0].Offset, before)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Offset != got[i-1].Offset+1 {
			t.Fatalf("restarted b: offset %d follows %d", got[i].Offset, got[i-1].Offset)
		}
	}
}
