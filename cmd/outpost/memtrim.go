package main

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Badger's compactions borrow table-builder buffers of tens of MiB for a few
// seconds. After a burst the live heap is small again (7 MiB after a
// 1M-record ingest), but an idle node allocates too little to trigger the
// next GC: the garbage and the heap goal stay where the burst left them, and
// the scavenger works towards that stale goal. Measured: 445 MiB of
// anonymous RSS held for minutes over a 7 MiB live heap. memoryLoop collects
// and hands the pages back to the kernel.
const (
	// trimInterval: a 1 GB gateway gets its memory back within half a minute
	// of a compaction burst; one forced GC per interval at most.
	trimInterval = 30 * time.Second
	// trimThreshold: heap memory beyond the live heap (garbage, free pages
	// not yet released) worth a forced GC.
	trimThreshold = 16 << 20
)

var trimSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"}, // live and not yet collected
	{Name: "/memory/classes/heap/free:bytes"},    // free, not yet released
	{Name: "/gc/heap/live:bytes"},                // live at the last GC
}

// memoryLoop runs the node's memory housekeeping until ctx ends: every
// limitInterval the limit check (limitCheck, when node.memory_limit is set)
// and the GC target's (gcCheck), every trimInterval the trim (trimOnce) and
// the drop of the binary's pages (dropBinaryPages), so that code run once
// since (a burst's compactions, a bridge's reconnect) is not held mapped
// either.
func (n *node) memoryLoop(ctx context.Context) error {
	limit, gc := n.limitCheck(), n.gcCheck()
	t := time.NewTicker(limitInterval)
	defer t.Stop()
	lastTrim := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			limit()
			gc()
			if now.Sub(lastTrim) < trimInterval {
				continue
			}
			lastTrim = now
		}
		if spare, trimmed := trimOnce(); trimmed {
			n.log.Debug().Uint64("spare_bytes", spare).Msg("returned heap memory to the OS")
		}
		n.dropBinaryPages()
	}
}

// dropBinaryPages unmaps the binary's resident pages (dropExecutablePages);
// the code that runs next maps its own back. A failure (no /proc) is
// logged once, at debug level after that.
func (n *node) dropBinaryPages() {
	if _, err := dropExecutablePages(); err != nil {
		ev := n.log.Debug()
		if !n.dropWarned.Swap(true) {
			ev = n.log.Warn()
		}
		ev.Err(err).Msg("could not unmap the binary's pages; RSS keeps them")
	}
}

// trimOnce collects and releases when more than trimThreshold is spare.
func trimOnce() (spare uint64, trimmed bool) {
	if spare = heapSpare(); spare <= trimThreshold {
		return spare, false
	}
	debug.FreeOSMemory()
	return spare, true
}

// heapSpare is the heap memory the process holds beyond the live heap:
// garbage not yet collected and free pages not yet returned to the OS.
func heapSpare() uint64 {
	v, ok := readMetrics(trimSamples)
	if !ok {
		return 0
	}
	if held := v[0] + v[1]; held > v[2] {
		return held - v[2]
	}
	return 0
}

// readMetrics reads samples (all uint64 metrics) into a fresh slice.
func readMetrics(samples []metrics.Sample) ([]uint64, bool) {
	s := append([]metrics.Sample(nil), samples...)
	metrics.Read(s)
	v := make([]uint64, len(s))
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return nil, false
		}
		v[i] = s[i].Value.Uint64()
	}
	return v, true
}

// The Go memory limit (node.memory_limit) is soft: when the memory the node
// cannot free (live heap, goroutine stacks, runtime metadata) reaches it, the
// GC runs back to back. Measured with 1,000 devices under a 48 MiB limit:
// 23.5 s of CPU in 20 s, against 2.3 s without the limit. limitCheck keeps the
// limit above that floor: it raises the limit when the floor passes
// limitHigh of it, says so once per raise, and lowers it back towards the
// configured value when the floor falls. Either way the new limit is the
// floor times limitRoom, so the floor must grow by a fifth before the next
// raise, or fall by more than a sixth before the next lowering. (With a room
// of 1.25 the floor sat at the raise threshold right after each raise or
// lowering, and a node left running under load logged a raise every 2-4 s.)
const (
	limitInterval = 2 * time.Second
	limitHigh     = 0.8  // raise when the floor passes this share of the limit
	limitRoom     = 1.5  // a raised or lowered limit is the floor times this
	limitLow      = 1.25 // lower when the limit is this much above floor x limitRoom
)

var floorSamples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/gc/heap/live:bytes"},
}

// memoryFloor is what the Go runtime holds that a collection cannot free:
// everything mapped and not released, less free heap pages and garbage.
func memoryFloor() int64 {
	v, ok := readMetrics(floorSamples)
	if !ok {
		return 0
	}
	return int64(v[0] - v[1] - v[2] - v[3] + v[4])
}

// nextLimit is the limit to run with, given the configured one, the current
// one and the floor; it reports whether that is a change.
func nextLimit(configured, current, floor int64) (int64, bool) {
	want := current
	switch {
	case float64(floor) > limitHigh*float64(current):
		want = int64(float64(floor) * limitRoom)
	case current > configured && float64(floor)*limitRoom*limitLow < float64(current):
		want = max(configured, int64(float64(floor)*limitRoom))
	}
	return want, want != current
}

// limitCheck returns the step that adjusts the Go memory limit while one is
// configured (memoryLimit: node.memory_limit or the profile's, and GOMEMLIMIT
// unset) and in force (serve sets it before the node starts); otherwise a
// no-op. A node started in-process, as the tests do, leaves the process's
// limit alone: a raised limit would outlive the node.
func (n *node) limitCheck() func() {
	configured := memoryLimit(n.cfg)
	current := debug.SetMemoryLimit(-1)
	if configured <= 0 || current == math.MaxInt64 {
		return func() {}
	}
	return func() {
		floor := memoryFloor()
		next, changed := nextLimit(configured, current, floor)
		if !changed {
			return
		}
		debug.SetMemoryLimit(next)
		if next > current {
			n.log.Warn().Int64("configured_bytes", configured).Int64("floor_bytes", floor).Int64("limit_bytes", next).
				Msg("go memory limit raised: node.memory_limit is below what the node holds live, and the GC would run without pause")
		} else {
			n.log.Info().Int64("configured_bytes", configured).Int64("floor_bytes", floor).Int64("limit_bytes", next).
				Msg("go memory limit lowered back towards node.memory_limit")
		}
		current = next
	}
}
