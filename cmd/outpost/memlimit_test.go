package main

import (
	"runtime"
	"testing"

	"github.com/outpost-edge/outpost/storage"
)

func TestNextLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name                       string
		configured, current, floor int64
		want                       int64
	}{
		{"floor well below: unchanged", 48 * mib, 48 * mib, 20 * mib, 48 * mib},
		{"floor past 80%: raised to floor x 1.25", 48 * mib, 48 * mib, 56 * mib, 70 * mib},
		{"raised and floor still high: unchanged", 48 * mib, 70 * mib, 50 * mib, 70 * mib},
		{"raised, floor fell: lowered, not below configured", 48 * mib, 70 * mib, 20 * mib, 48 * mib},
		{"raised, floor fell part way: lowered to floor x 1.25", 48 * mib, 100 * mib, 60 * mib, 75 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := nextLimit(tc.configured, tc.current, tc.floor)
			if got != tc.want || changed != (tc.want != tc.current) {
				t.Fatalf("nextLimit(%d, %d, %d) = %d, %v; want %d", tc.configured, tc.current, tc.floor, got, changed, tc.want)
			}
		})
	}
}

func TestMemoryLimitDefaultsByProfile(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	cfg := defaultConfig()
	if got := memoryLimit(cfg); got != 48<<20 {
		t.Fatalf("pi profile, memory_limit unset: %d, want 48 MiB", got)
	}
	cfg.Node.MemoryLimit = 100 << 20
	if got := memoryLimit(cfg); got != 100<<20 {
		t.Fatalf("memory_limit set: %d, want it", got)
	}
	cfg.Node.MemoryLimit = -1
	if got := memoryLimit(cfg); got != 0 {
		t.Fatalf("memory_limit -1: %d, want none", got)
	}
	cfg.Node.MemoryLimit = 0
	cfg.Storage.Profile = storage.ProfileLarge
	if got := memoryLimit(cfg); got != 0 {
		t.Fatalf("large profile: %d, want none", got)
	}
	cfg.Storage.Profile = storage.ProfilePi
	t.Setenv("GOMEMLIMIT", "200MiB")
	if got := memoryLimit(cfg); got != 0 {
		t.Fatalf("GOMEMLIMIT set: %d, want it left to the runtime", got)
	}
}

// TestMemoryFloorCountsLiveMemory: the floor grows with live heap that a
// collection cannot free, and does not count garbage.
func TestMemoryFloorCountsLiveMemory(t *testing.T) {
	runtime.GC()
	before := memoryFloor()
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	for range 64 {
		_ = make([]byte, 1<<20) // garbage
	}
	runtime.GC()
	after := memoryFloor()
	if grew := after - before; grew < 60<<20 || grew > 100<<20 {
		t.Fatalf("floor grew by %d MiB with 64 MiB live (and 64 MiB of garbage)", grew>>20)
	}
	runtime.KeepAlive(live)
}
