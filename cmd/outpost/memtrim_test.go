package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestTrimReleasesGarbage: 64 MiB of garbage left by a burst (what a Badger
// compaction leaves) counts as spare, and a trim collects it and returns it.
func TestTrimReleasesGarbage(t *testing.T) {
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no collection during the burst
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	burst := make([][]byte, 64)
	for i := range burst {
		burst[i] = make([]byte, 1<<20)
		burst[i][0] = byte(i)
	}
	runtime.KeepAlive(burst)
	burst = nil
	before := heapSpare()
	if before < 48<<20 {
		t.Fatalf("64 MiB of garbage counted as %d spare bytes", before)
	}
	if _, trimmed := trimOnce(); !trimmed {
		t.Fatal("no trim with 64 MiB spare")
	}
	if after := heapSpare(); after > before/2 {
		t.Fatalf("spare heap %d before the trim, %d after", before, after)
	}
}
