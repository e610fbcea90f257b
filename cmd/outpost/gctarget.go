package main

import (
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"time"
)

// The pi GC target (piGCPercent) leaves a node whose live heap is 5 MB 3 MB
// of headroom: twelve camera frames of 256 KiB. Every frame is a fresh
// buffer (mochi reads each packet into its own), so with four cameras
// waiting for each ack the node collected 141-144 times per 1,600 frames,
// and the collections, with the memory they hand back to the kernel and
// fault in again, took a quarter of its CPU (scripts/RESULTS.md, "What
// changed on 2026-12-05, morning"). gcStep raises the target while large
// payloads flow, so that the headroom holds gcFrames of the largest payload
// seen within gcWindow (at most gcHeadroomMax), and lowers it back once they
// stop. Sensor traffic never moves it: 32 payloads of 64 KiB fit in the
// default headroom of a 4 MB heap.
const (
	gcFrames      = 32
	gcHeadroomMax = 16 << 20
	gcPercentMax  = 400
	gcWindow      = 30 * time.Second
)

// gcTarget is the GC percent for a live heap of live bytes when the largest
// recent payload is maxPayload bytes: base, or the target whose headroom
// holds gcFrames such payloads, up to gcHeadroomMax and gcPercentMax. A live
// heap under 1 MiB counts as 1 MiB.
func gcTarget(base int, live int64, maxPayload int) int {
	want := min(int64(gcFrames)*int64(maxPayload), gcHeadroomMax)
	live = max(live, 1<<20)
	if want*100 <= live*int64(base) {
		return base
	}
	return min(int((want*100+live-1)/live), gcPercentMax)
}

// gcCheck returns the step, run every limitInterval, that follows the
// payloads (gcStep) while the profile's default GC target is in force
// (node.gc_percent 0, GOGC unset, storage.profile pi, and serve set it);
// otherwise a no-op. A node started in-process, as the tests do, leaves the
// process's target alone.
func (n *node) gcCheck() func() {
	base := gcPercent(n.cfg)
	if n.cfg.Node.GCPercent != 0 || base <= 0 || goGCPercent() != base {
		return func() {}
	}
	return n.gcStep(base)
}

// gcStep returns the step that sets the GC target to gcTarget's for the
// largest payload of the last gcWindow. It sets a new target only when that
// differs from the one in force by more than a tenth: the live heap moves a
// little between collections.
func (n *node) gcStep(base int) func() {
	window := make([]int, gcWindow/limitInterval)
	next, current := 0, base
	return func() {
		window[next] = n.broker.TakeMaxPayload()
		next = (next + 1) % len(window)
		largest := slices.Max(window)
		want := gcTarget(base, liveHeap(), largest)
		if want == current || 10*abs(want-current) <= current {
			return
		}
		debug.SetGCPercent(want)
		n.log.Debug().Int("percent", want).Int("default", base).Int("max_payload_bytes", largest).
			Msg("go gc percent follows the payloads")
		current = want
	}
}

func abs(v int) int { return max(v, -v) }

var gcSamples = []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/live:bytes"}}

// goGCPercent is the GC target in force (GOGC's value; -1 when off).
func goGCPercent() int {
	v, ok := readMetrics(gcSamples[:1])
	if !ok {
		return -1
	}
	return int(int64(v[0]))
}

// liveHeap is the heap that was live after the last collection.
func liveHeap() int64 {
	v, ok := readMetrics(gcSamples[1:])
	if !ok {
		return 0
	}
	return int64(v[0])
}
