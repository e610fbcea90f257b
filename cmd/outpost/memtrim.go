package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Badger's compactions borrow table-builder buffers of tens of MiB for a few
// seconds. After a burst the live heap is small again (7 MiB after a
// 1M-record ingest), but an idle node allocates too little to trigger the
// next GC: the garbage and the heap goal stay where the burst left them, and
// the scavenger works towards that stale goal. Measured: 445 MiB of
// anonymous RSS held for minutes over a 7 MiB live heap. trimLoop collects
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

// trimLoop collects and releases heap memory to the OS every trimInterval
// when more than trimThreshold of it is not live. It stops with ctx.
func (n *node) trimLoop(ctx context.Context) error {
	t := time.NewTicker(trimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if spare, trimmed := trimOnce(); trimmed {
			n.log.Debug().Uint64("spare_bytes", spare).Msg("returned heap memory to the OS")
		}
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
	s := append([]metrics.Sample(nil), trimSamples...)
	metrics.Read(s)
	var v [3]uint64
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		v[i] = s[i].Value.Uint64()
	}
	if held := v[0] + v[1]; held > v[2] {
		return held - v[2]
	}
	return 0
}
