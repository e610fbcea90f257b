package main

import (
	"context"
	"runtime/debug"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

func TestGCTarget(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name       string
		live       int64
		maxPayload int
		want       int
	}{
		{"no publishes", 5 * mib, 0, 60},
		{"sensor payloads", 5 * mib, 64, 60},
		{"64 KiB payloads fit the default headroom of a 4 MiB heap", 4 * mib, 64 << 10, 60},
		{"camera frames: 32 of them in the headroom", 5 * mib, 256 << 10, 160},
		{"a large live heap already has the room", 20 * mib, 256 << 10, 60},
		{"headroom at most 16 MiB", 8 * mib, 1 << 20, 200},
		{"at most 400", 2 * mib, 1 << 20, 400},
		{"a heap under 1 MiB counts as 1 MiB", 100 << 10, 16 << 10, 60},
	} {
		if got := gcTarget(60, c.live, c.maxPayload); got != c.want {
			t.Errorf("%s: gcTarget(60, %d, %d) = %d, want %d", c.name, c.live, c.maxPayload, got, c.want)
		}
	}
}

// TestGCStepFollowsPayloads: a node's GC target rises once a camera frame
// was published, stays while one came within gcWindow, and is the default
// again after; gcCheck does nothing when node.gc_percent is set, or when the
// default is not in force (an in-process node).
func TestGCStepFollowsPayloads(t *testing.T) {
	defer debug.SetGCPercent(goGCPercent())
	t.Setenv("GOGC", "")
	n := startTestNode(t, testConfig(t.TempDir()))
	pub := mqttClient(t, n.broker.Addr("mqtt"), "cam", nil)
	publish := func(size int) {
		t.Helper()
		if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "cam/1", QoS: 1, Payload: make([]byte, size)}); err != nil {
			t.Fatal(err)
		}
	}

	debug.SetGCPercent(90)
	publish(256 << 10)
	n.gcCheck()() // the default (piGCPercent) is not in force
	if got := goGCPercent(); got != 90 {
		t.Fatalf("with the target at 90, not the default: the step set %d", got)
	}
	configured := &node{cfg: n.cfg, broker: n.broker, log: n.log} // not n.cfg itself: the node's goroutines read it
	configured.cfg.Node.GCPercent = piGCPercent
	debug.SetGCPercent(piGCPercent)
	configured.gcCheck()() // configured: left alone
	if got := goGCPercent(); got != piGCPercent {
		t.Fatalf("node.gc_percent configured: the step set %d", got)
	}

	step := n.gcStep(piGCPercent)
	publish(256 << 10)
	publish(100)
	step()
	raised := goGCPercent()
	if raised <= piGCPercent || raised > gcPercentMax {
		t.Fatalf("after a frame of 256 KiB the target is %d (live heap %d)", raised, liveHeap())
	}
	for i := 1; i < int(gcWindow/limitInterval); i++ {
		publish(100)
		step()
		if got := goGCPercent(); got <= piGCPercent {
			t.Fatalf("step %d of the window after the frame: the target is back at %d", i, got)
		}
	}
	publish(100)
	step()
	if got := goGCPercent(); got != piGCPercent {
		t.Fatalf("a window without frames: the target is %d, want %d", got, piGCPercent)
	}
}
