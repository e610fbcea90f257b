//go:build !linux

package cpulimit

import "runtime"

// Read returns the runtime's CPU count: affinity masks and cgroups are read
// on Linux only.
func Read() (Limit, error) { return Limit{CPUs: runtime.NumCPU()}, nil }
