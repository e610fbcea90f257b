package cluster

import (
	"testing"
	"time"
)

// TestPartitionHeals cuts c off (gossip and data plane) while a and b publish:
// a and b carry on; after healing the cluster converges within 30 s and c's
// subscriber receives everything it missed, exactly once, in order.
func TestPartitionHeals(t *testing.T) {
	const before, during, after = 100, 300, 100
	cut := newNetCut()
	nodes := startNodes(t, cut, []string{"s/#"}, []string{"s/#"}, []string{"s/#"})
	a, b, c := nodes[0], nodes[1], nodes[2]
	publish(a, "s/a", before)
	eventually(t, 10*time.Second, "c before the cut", func() bool { return len(c.subs.received("s/#")) == before })

	cut.set("c", true)
	eventually(t, 30*time.Second, "a and b see c gone", func() bool {
		return len(a.c.Stats().Forwarders) == 1 && len(b.c.Stats().Forwarders) == 1
	})
	publish(a, "s/a", during)
	publish(b, "s/b", during)
	eventually(t, 10*time.Second, "b delivers to a during the cut", func() bool {
		return len(a.subs.received("s/#")) == during
	})
	if got := len(c.subs.received("s/#")); got != before {
		t.Fatalf("cut-off c received %d, want %d", got, before)
	}

	healed := time.Now()
	cut.set("c", false)
	waitConverged(t, nodes, 30*time.Second)
	t.Logf("converged %s after healing", time.Since(healed).Round(time.Millisecond))
	publish(a, "s/a", after)
	eventually(t, 10*time.Second, "c catches up", func() bool {
		return len(c.subs.received("s/#")) == before+2*during+after
	})
	checkStream(t, "c", c.subs.received("s/#"), a, before+during+after)
	checkStream(t, "c", c.subs.received("s/#"), b, during)
	checkStream(t, "a", a.subs.received("s/#"), b, during)
}

func TestStartOffset(t *testing.T) {
	tests := []struct {
		name                string
		cursor              uint64
		known               bool
		next, floor         uint64
		wantFrom, wantSkips uint64
	}{
		{"new peer starts at the end", 0, false, 100, 40, 100, 0},
		{"returning peer resumes at cursor", 60, true, 100, 40, 60, 0},
		{"away past the window", 10, true, 100, 40, 40, 30},
		{"window empty", 10, true, 100, 100, 100, 90},
		{"up to date", 100, true, 100, 40, 100, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from, skipped := startOffset(tc.cursor, tc.known, tc.next, tc.floor)
			if from != tc.wantFrom || skipped != tc.wantSkips {
				t.Fatalf("startOffset = %d, %d; want %d, %d", from, skipped, tc.wantFrom, tc.wantSkips)
			}
		})
	}
}

// TestCatchUpWindow: b leaves and comes back; a forwards what b missed, but
// only what was ingested within the catch-up window.
func TestCatchUpWindow(t *testing.T) {
	cut := newNetCut()
	now := time.Now()
	window := func(o *Options) { o.CatchUpWindow = time.Hour }
	a := startNode(t, cut, nodeSpec{name: "a", edit: window})
	seed := a.c.gossipAddr
	b := startNode(t, cut, nodeSpec{name: "b", seed: seed, edit: window, filters: []string{"s/#"}})
	waitConverged(t, []*node{a, b}, 30*time.Second)
	at := func(ago time.Duration, n int) {
		for range n {
			a.log.Append(Message{Topic: "s/x", Time: now.Add(-ago)})
		}
	}
	at(3*time.Hour, 10) // b is there
	eventually(t, 10*time.Second, "b gets the first 10", func() bool { return len(b.subs.received("s/#")) == 10 })
	_ = b.c.Close()
	eventually(t, 30*time.Second, "a sees b leave", func() bool { return len(a.c.Stats().Forwarders) == 0 })
	at(2*time.Hour, 20) // b away, beyond the window
	at(10*time.Minute, 30)
	b2 := startNode(t, cut, nodeSpec{name: "b", seed: seed, edit: window, filters: []string{"s/#"}})
	waitConverged(t, []*node{a, b2}, 30*time.Second)
	eventually(t, 10*time.Second, "b gets the 30 within the window", func() bool { return len(b2.subs.received("s/#")) == 30 })
	got := b2.subs.received("s/#")
	if got[0].Offset != 30 || got[29].Offset != 59 {
		t.Fatalf("b caught up offsets %d..%d, want 30..59", got[0].Offset, got[29].Offset)
	}
	if st := a.c.Stats().Forwarders; len(st) != 1 || st[0].Skipped != 20 {
		t.Fatalf("forwarder stats %+v, want 20 skipped", st)
	}
}
