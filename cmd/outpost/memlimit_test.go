package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/rs/zerolog"

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
		{"floor past 80%: raised to floor x 1.5", 48 * mib, 48 * mib, 40 * mib, 60 * mib},
		{"raised and floor still high: unchanged", 48 * mib, 70 * mib, 50 * mib, 70 * mib},
		{"raised, floor fell: lowered, not below configured", 48 * mib, 70 * mib, 20 * mib, 48 * mib},
		{"raised, floor fell part way: lowered to floor x 1.5", 48 * mib, 120 * mib, 60 * mib, 90 * mib},
		{"raised, floor fell a little: unchanged", 48 * mib, 100 * mib, 60 * mib, 100 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := nextLimit(tc.configured, tc.current, tc.floor)
			if got != tc.want || changed != (tc.want != tc.current) {
				t.Fatalf("nextLimit(%d, %d, %d) = %d, %v; want %d", tc.configured, tc.current, tc.floor, got, changed, tc.want)
			}
		})
	}
}

// TestNextLimitSettles: a floor that creeps up, or down, by a few percent per
// check changes the limit once, not at every check (each raise logs a
// warning). With a limit of 1.25x the floor after a raise or a lowering, the
// floor sat at the raise threshold, and every check that saw it grow raised
// the limit again.
func TestNextLimitSettles(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name    string
		current int64
		floors  []int64
	}{
		{"creeping up past the threshold", 48 * mib, []int64{40 * mib, 41 * mib, 42 * mib, 43 * mib, 44 * mib, 45 * mib}},
		{"creeping up after falling", 120 * mib, []int64{60 * mib, 61 * mib, 62 * mib, 63 * mib, 64 * mib, 65 * mib}},
		{"creeping down", 100 * mib, []int64{55 * mib, 54 * mib, 53 * mib, 52 * mib, 51 * mib, 50 * mib}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			current, changes := tc.current, 0
			for _, f := range tc.floors {
				next, changed := nextLimit(48*mib, current, f)
				if changed {
					changes++
					t.Logf("floor %d MiB: limit %d -> %d MiB", f/mib, current/mib, next/mib)
				}
				current = next
				if float64(f) > limitHigh*float64(current) {
					t.Fatalf("floor %d MiB left above %.0f%% of the limit, %d MiB", f/mib, limitHigh*100, current/mib)
				}
			}
			if changes != 1 {
				t.Fatalf("%d changes of the limit as the floor went from %d to %d MiB, want 1", changes, tc.floors[0]/mib, tc.floors[len(tc.floors)-1]/mib)
			}
		})
	}
}

// node.memory_limit and node.gc_percent: configured, else the pi
// profile's default, none with large; the environment variable wins; a
// memory limit of -1 is none.
func TestRuntimeSettingsByProfile(t *testing.T) {
	for _, tc := range []struct {
		name, env, envVal, profile string
		limit                      int64
		pct                        int
		wantLimit                  int64
		wantPct                    int
	}{
		{"pi defaults", "", "", storage.ProfilePi, 0, 0, 48 << 20, piGCPercent},
		{"configured", "", "", storage.ProfilePi, 100 << 20, 200, 100 << 20, 200},
		{"memory_limit -1", "", "", storage.ProfilePi, -1, 0, 0, piGCPercent},
		{"large profile", "", "", storage.ProfileLarge, 0, 0, 0, 0},
		{"GOMEMLIMIT set", "GOMEMLIMIT", "200MiB", storage.ProfilePi, 100 << 20, 0, 0, piGCPercent},
		{"GOGC set", "GOGC", "80", storage.ProfilePi, 0, 200, 48 << 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv("GOGC", "")
			if tc.env != "" {
				t.Setenv(tc.env, tc.envVal)
			}
			cfg := defaultConfig()
			cfg.Storage.Profile = tc.profile
			cfg.Node.MemoryLimit, cfg.Node.GCPercent = tc.limit, tc.pct
			if got := memoryLimit(cfg); got != tc.wantLimit {
				t.Errorf("memoryLimit: %d, want %d", got, tc.wantLimit)
			}
			if got := gcPercent(cfg); got != tc.wantPct {
				t.Errorf("gcPercent: %d, want %d", got, tc.wantPct)
			}
		})
	}
}

// node.max_procs: configured, else the runtime's whatever the profile; the
// GOMAXPROCS environment variable wins.
func TestMaxProcsSetting(t *testing.T) {
	for _, tc := range []struct {
		name, env, profile string
		configured, want   int
	}{
		{"default pi", "", storage.ProfilePi, 0, 0},
		{"default large", "", storage.ProfileLarge, 0, 0},
		{"configured", "", storage.ProfilePi, 1, 1},
		{"GOMAXPROCS set", "3", storage.ProfilePi, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", tc.env)
			cfg := defaultConfig()
			cfg.Storage.Profile, cfg.Node.MaxProcs = tc.profile, tc.configured
			if got := maxProcs(cfg); got != tc.want {
				t.Errorf("maxProcs: %d, want %d", got, tc.want)
			}
		})
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

// The limit step raises a limit in force when the floor passes it, and
// leaves a process with no limit alone: an in-process node (these tests
// start several) must not leave a process-wide limit behind it.
func TestLimitCheckAdjustsOnlyALimitInForce(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	t.Setenv("GOMEMLIMIT", "")
	live := make([]byte, 32<<20) // a floor above the 16 MiB configured
	for i := range live {
		live[i] = byte(i)
	}
	cfg := defaultConfig()
	cfg.Node.MemoryLimit = 16 << 20
	n := &node{cfg: cfg, log: zerolog.Nop()}

	n.limitCheck()()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("no limit in force, the step set one of %d bytes", got)
	}

	debug.SetMemoryLimit(cfg.Node.MemoryLimit)
	n.limitCheck()()
	if got := debug.SetMemoryLimit(-1); got <= cfg.Node.MemoryLimit {
		t.Fatalf("limit %d with a floor of %d: not raised", got, memoryFloor())
	}
	runtime.KeepAlive(live)
}
